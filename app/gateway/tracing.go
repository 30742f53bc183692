package gateway

import (
	"context"
	"net/http"
	"reflect"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracing says whether requests get spans, so that a gateway without a
// tracer provider pays for none: with a provider in the fx graph, always;
// with the global one (otel.GetTracerProvider), while it records: probed
// with one span when first seen, and again whenever the global provider is
// replaced (otel.SetTracerProvider after the gateway was built is
// followed). The unset global, and noop providers, make spans that are
// not valid: no tracing.
type tracing struct {
	explicit bool
	seen     atomic.Pointer[probe]
}

type probe struct {
	tp trace.TracerProvider
	on bool
}

func (t *tracing) on() bool {
	if t.explicit {
		return true
	}
	tp := otel.GetTracerProvider()
	if p := t.seen.Load(); p != nil && sameProvider(p.tp, tp) {
		return p.on
	}
	_, span := tp.Tracer("github.com/khive-go/khive/app/gateway").Start(context.Background(), "probe")
	on := span.SpanContext().IsValid()
	span.End()
	t.seen.Store(&probe{tp, on})
	return on
}

// sameProvider compares providers, which need not be of comparable types.
func sameProvider(a, b trace.TracerProvider) bool {
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	if !reflect.TypeOf(a).Comparable() {
		return false // probed each time: only providers no one uses are so
	}
	return a == b
}

// traced serves a request through withSpans while tracing is on, else
// straight through plain, the client's W3C trace context (when it sent
// one) kept in the request's context so that it still reaches the
// upstream.
func (t *tracing) traced(withSpans, plain http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t.on() {
			withSpans.ServeHTTP(w, r)
			return
		}
		if _, ok := r.Header["Traceparent"]; ok {
			r = r.WithContext(propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		}
		plain.ServeHTTP(w, r)
	})
}
