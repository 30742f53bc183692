package gateway

import (
	"net/http"
	"reflect"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/khive-go/khive/internal/otelglobal"
)

// tracing says whether requests get spans, so that a gateway without a
// tracer provider pays for none: with a provider in the fx graph, always;
// with the global one (otel.GetTracerProvider, read per request, so that
// otel.SetTracerProvider after the gateway was built is followed), unless
// it is unset (otel's internal delegate) or a noop.
type tracing struct {
	explicit bool
	global   func() trace.TracerProvider // otel.GetTracerProvider; a test's own
	// recording is whether the global provider last looked at records:
	// a request compares the provider it reads with it instead of
	// looking at its type again.
	recording otelglobal.Derived[bool]
}

// globalUnset is the package of the provider otel.GetTracerProvider
// returns until one is set.
const globalUnset = "go.opentelemetry.io/otel/internal/global"

func (t *tracing) on() bool {
	if t.explicit {
		return true
	}
	return t.recording.Get(t.global(), records)
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
