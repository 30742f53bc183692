package gateway

import (
	"net/http"
	"reflect"
	"sync/atomic"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracing says whether requests get spans, so that a gateway without a
// tracer provider pays for none: with a provider in the fx graph, always;
// with the global one (otel.GetTracerProvider, read per request, so that
// otel.SetTracerProvider after the gateway was built is followed), unless
// it is unset (otel's internal delegate) or a noop.
type tracing struct {
	explicit bool
	global   func() trace.TracerProvider // otel.GetTracerProvider; a test's own
	// last is the global provider last looked at and whether it records:
	// a request compares the provider it reads with it instead of
	// looking at its type again.
	last atomic.Pointer[verdict]
}

type verdict struct {
	tp trace.TracerProvider
	on bool
}

// globalUnset is the package of the provider otel.GetTracerProvider
// returns until one is set.
const globalUnset = "go.opentelemetry.io/otel/internal/global"

func (t *tracing) on() bool {
	if t.explicit {
		return true
	}
	tp := t.global()
	// Interfaces of different dynamic types compare unequal without
	// comparing their values, so a provider of a type that is not
	// comparable is compared only when last is of that type too, which
	// it never is: it is kept only when comparable.
	if v := t.last.Load(); v != nil && v.tp == tp {
		return v.on
	}
	on := records(tp)
	if reflect.TypeOf(tp).Comparable() {
		t.last.Store(&verdict{tp: tp, on: on})
	}
	return on
}

// records reports whether tp is a provider someone set: not otel's unset
// global nor a noop.
func records(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case noop.TracerProvider, *noop.TracerProvider:
		return false
	}
	typ := reflect.TypeOf(tp)
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	return typ.PkgPath() != globalUnset
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
