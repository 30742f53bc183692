package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/fx"

	"github.com/khive-go/khive/khivetest"
)

// A request through an alias whose first target fails: one server span
// (the client's trace continued), a target span per target tried, the
// endpoints' call and attempt spans beneath, and traceparent upstream.
func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	out := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		out[kv.Key] = kv.Value
	}
	return out
}

func TestTracingThroughTheGateway(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	e := newEnvWithFx(t, []fx.Option{fx.Supply(fx.Annotate(tp, fx.As(new(trace.TracerProvider))))})
	e.ups["up"].Always(khivetest.Fault{Kind: khivetest.Status, Status: 503})

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	status, _, body := e.post("/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"x"}]}`,
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	require.Equal(t, http.StatusOK, status, body)

	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		assert.Equal(t, traceID, s.SpanContext().TraceID().String(), "%s continues the client's trace", s.Name())
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	server := byName["POST /v1/chat/completions"]
	require.Len(t, server, 1, "one server span")
	assert.Equal(t, trace.SpanKindServer, server[0].SpanKind())
	assert.Equal(t, "00f067aa0ba902b7", server[0].Parent().SpanID().String(), "its parent is the client's span")
	require.Len(t, byName["target up"], 1)
	require.Len(t, byName["target other"], 1)
	fallback := attrs(byName["target other"][0])
	assert.True(t, fallback["khive.fallback"].AsBool())
	assert.Equal(t, "fast", fallback["khive.model"].AsString())
	assert.Equal(t, server[0].SpanContext().SpanID(), byName["target other"][0].Parent().SpanID())
	// "other" is a full config without a kind: its operation is "call".
	calls := byName["call llama-3.3-70b-versatile"]
	require.Len(t, calls, 1, "the served call's span, named by the upstream model: %v", spanNames(byName))
	assert.Equal(t, byName["target other"][0].SpanContext().SpanID(), calls[0].Parent().SpanID())
	assert.Len(t, byName["attempt"], 3, "two attempts on up (it retries the 503), one on other")

	// The upstream got the trace: W3C traceparent with the client's trace id.
	tp2 := e.ups["other"].Last().Header.Get("Traceparent")
	require.NotEmpty(t, tp2)
	assert.True(t, strings.HasPrefix(tp2, "00-"+traceID+"-"), tp2)
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
		propagation.HeaderCarrier(e.ups["other"].Last().Header)))
	var attemptIDs []string
	for _, a := range byName["attempt"] {
		attemptIDs = append(attemptIDs, a.SpanContext().SpanID().String())
	}
	assert.Contains(t, attemptIDs, sc.SpanID().String(), "the upstream's parent is the attempt's span")
}

func spanNames(m map[string][]sdktrace.ReadOnlySpan) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Without a tracer provider the gateway makes no spans (no otelhttp, no
// target span), yet a client's traceparent still reaches the upstream;
// a global provider set afterwards is followed from the next request on.
func TestUntracedGatewayPassesTraceContextAndFollowsTheGlobalProvider(t *testing.T) {
	e := newEnv(t)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	status, _, body := e.post("/v1/chat/completions", `{"model":"up/gpt-x","messages":[{"role":"user","content":"x"}]}`,
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "00-"+traceID+"-00f067aa0ba902b7-01", e.ups["up"].Last().Header.Get("Traceparent"),
		"the client's own span is the upstream's parent: the gateway made none")

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		_ = tp.Shutdown(context.Background()) // the endpoints' tracers keep it: it records no more
	})
	status, _, body = e.post("/v1/chat/completions", `{"model":"up/gpt-x","messages":[{"role":"user","content":"x"}]}`,
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	require.Equal(t, http.StatusOK, status, body)
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	assert.Contains(t, names, "POST /v1/chat/completions", "the server span, now that a provider records")
	assert.NotContains(t, names, "probe", "deciding whether to trace makes no span of its own")
	assert.Contains(t, names, "target up")
	got := e.ups["up"].Last().Header.Get("Traceparent")
	assert.True(t, strings.HasPrefix(got, "00-"+traceID+"-"), got)
	assert.NotContains(t, got, "00f067aa0ba902b7", "a gateway span is the upstream's parent now")

	otel.SetTracerProvider(noop.NewTracerProvider())
	n := len(rec.Ended())
	status, _, _ = e.post("/v1/chat/completions", `{"model":"up/gpt-x","messages":[{"role":"user","content":"x"}]}`)
	require.Equal(t, http.StatusOK, status)
	for _, s := range rec.Ended()[n:] {
		// (The endpoint's tracer, taken from the global before, keeps the
		// provider it was first given: otel delegates once.)
		assert.NotContains(t, []string{"POST /v1/chat/completions", "target up"}, s.Name(), "a noop provider: no gateway spans again")
	}
}
