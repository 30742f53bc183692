package endpoint_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
	"github.com/khive-go/khive/providers/anthropic"
)

const secretPrompt = "the-secret-prompt-text"

type telemetryEnv struct {
	up      *khivetest.Server
	e       *endpoint.Endpoint
	spans   *tracetest.SpanRecorder
	metrics *sdkmetric.ManualReader
}

func newTelemetryEnv(t *testing.T, opts ...func(*endpoint.Config)) *telemetryEnv {
	t.Helper()
	up := khivetest.New()
	t.Cleanup(up.Close)
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	cfg := endpoint.Config{Name: "traced", Provider: "openai", Kind: "chat", BaseURL: up.BaseURL(), Path: "chat/completions",
		APIKey: endpoint.NewSecret(testKey), Retry: endpoint.RetryConfig{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}}
	for _, o := range opts {
		o(&cfg)
	}
	e := start(t, cfg, endpoint.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))),
		endpoint.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	return &telemetryEnv{up: up, e: e, spans: spans, metrics: reader}
}

var tracedBody = map[string]any{"model": "gpt-4o", "messages": []any{map[string]any{"role": "user", "content": secretPrompt}}}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	out := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		out[kv.Key] = kv.Value
	}
	return out
}

// noSecrets checks that no span holds the key or the prompt.
func noSecrets(t *testing.T, spans []sdktrace.ReadOnlySpan) {
	t.Helper()
	for _, s := range spans {
		for _, kv := range s.Attributes() {
			assert.NotContains(t, kv.Value.String(), testKey)
			assert.NotContains(t, kv.Value.String(), secretPrompt)
		}
		for _, ev := range s.Events() {
			assert.NotContains(t, fmt.Sprint(ev.Attributes), secretPrompt)
		}
	}
}

func TestCallSpanAndAttempt(t *testing.T) {
	te := newTelemetryEnv(t)
	_, err := te.e.Call(context.Background(), endpoint.Request{Body: tracedBody})
	require.NoError(t, err)
	spans := te.spans.Ended()
	require.Len(t, spans, 2)
	attempt, call := spans[0], spans[1]
	assert.Equal(t, "chat gpt-4o", call.Name())
	assert.Equal(t, trace.SpanKindClient, call.SpanKind())
	a := attrs(call)
	assert.Equal(t, "chat", a["gen_ai.operation.name"].AsString())
	assert.Equal(t, "openai", a["gen_ai.provider.name"].AsString())
	assert.Equal(t, "gpt-4o", a["gen_ai.request.model"].AsString())
	assert.Equal(t, "gpt-4o", a["gen_ai.response.model"].AsString())
	assert.Equal(t, "chatcmpl-fake", a["gen_ai.response.id"].AsString())
	assert.Equal(t, []string{"stop"}, a["gen_ai.response.finish_reasons"].AsStringSlice())
	assert.Positive(t, a["gen_ai.usage.input_tokens"].AsInt64())
	assert.Positive(t, a["gen_ai.usage.output_tokens"].AsInt64())
	assert.Equal(t, "127.0.0.1", a["server.address"].AsString())

	assert.Equal(t, "attempt", attempt.Name())
	assert.Equal(t, call.SpanContext().SpanID(), attempt.Parent().SpanID(), "the attempt is the call's child")
	assert.Equal(t, int64(200), attrs(attempt)["http.response.status_code"].AsInt64())
	require.NotEmpty(t, attempt.Events())
	assert.Equal(t, "admitted", attempt.Events()[0].Name)
	noSecrets(t, spans)

	var rm metricdata.ResourceMetrics
	require.NoError(t, te.metrics.Collect(context.Background(), &rm))
	seen := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			seen[m.Name] = true
			switch m.Name {
			case "gen_ai.client.operation.duration":
				h := m.Data.(metricdata.Histogram[float64])
				require.Len(t, h.DataPoints, 1)
				assert.Equal(t, uint64(1), h.DataPoints[0].Count)
				op, _ := h.DataPoints[0].Attributes.Value("gen_ai.operation.name")
				assert.Equal(t, "chat", op.AsString())
			case "gen_ai.client.token.usage":
				h := m.Data.(metricdata.Histogram[int64])
				var types []string
				for _, dp := range h.DataPoints {
					v, _ := dp.Attributes.Value("gen_ai.token.type")
					types = append(types, v.AsString())
				}
				assert.ElementsMatch(t, []string{"input", "output"}, types)
			}
		}
	}
	for _, name := range []string{"gen_ai.client.operation.duration", "gen_ai.client.token.usage", "khive.endpoint.admission.wait", "khive.endpoint.queue.depth"} {
		assert.True(t, seen[name], name)
	}
}

func TestRetrySpansCarryTheHint(t *testing.T) {
	te := newTelemetryEnv(t)
	te.up.Script(khivetest.Fault{Kind: khivetest.Status, Status: 429, Headers: map[string]string{"retry-after-ms": "5"}})
	_, err := te.e.Call(context.Background(), endpoint.Request{Body: tracedBody})
	require.NoError(t, err)
	spans := te.spans.Ended()
	require.Len(t, spans, 3, "two attempts and the call")
	first := attrs(spans[0])
	assert.Equal(t, int64(429), first["http.response.status_code"].AsInt64())
	assert.Equal(t, "429", first["khive.retry_reason"].AsString())
	assert.Equal(t, 5.0, first["khive.retry_after_ms"].AsFloat64())
	assert.Equal(t, codes.Error, spans[0].Status().Code)
	assert.Equal(t, int64(200), attrs(spans[1])["http.response.status_code"].AsInt64())
	assert.Equal(t, codes.Unset, spans[2].Status().Code, "the call succeeded")
}

func TestBreakerOpenAndCancelledCallsAreErrors(t *testing.T) {
	te := newTelemetryEnv(t, func(c *endpoint.Config) {
		c.Breaker = endpoint.BreakerConfig{ConsecutiveFailures: 1, OpenFor: time.Minute}
		c.Retry.MaxAttempts = 1
	})
	te.up.Script(khivetest.Fault{Kind: khivetest.Status, Status: 500})
	_, _ = te.e.Call(context.Background(), endpoint.Request{Body: tracedBody})
	_, err := te.e.Call(context.Background(), endpoint.Request{Body: tracedBody})
	require.ErrorIs(t, err, endpoint.ErrCircuitOpen)
	spans := te.spans.Ended()
	call := spans[len(spans)-1]
	assert.Equal(t, codes.Error, call.Status().Code)
	assert.Equal(t, "500", attrs(spans[1])["error.type"].AsString(), "the first call failed with its status")

	te2 := newTelemetryEnv(t)
	te2.up.Always(khivetest.Fault{Kind: khivetest.Hang})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = te2.e.Call(ctx, endpoint.Request{Body: tracedBody})
	require.Error(t, err)
	spans = te2.spans.Ended()
	assert.Equal(t, "canceled", attrs(spans[len(spans)-1])["error.type"].AsString(), "a client that gave up")
}

func TestStreamSpanEndsAtItsLastEvent(t *testing.T) {
	te := newTelemetryEnv(t)
	body := map[string]any{"stream": true, "stream_options": map[string]any{"include_usage": true}}
	for k, v := range tracedBody {
		body[k] = v
	}
	s, err := te.e.Stream(context.Background(), endpoint.Request{Body: body})
	require.NoError(t, err)
	for s.Next() {
	}
	require.NoError(t, s.Err())
	assert.Len(t, te.spans.Ended(), 1, "only the attempt has ended while the stream is open")
	require.NoError(t, s.Close())
	spans := te.spans.Ended()
	require.Len(t, spans, 2)
	call := spans[1]
	assert.True(t, strings.HasPrefix(call.Name(), "chat "))
	var names []string
	for _, ev := range call.Events() {
		names = append(names, ev.Name)
	}
	assert.Contains(t, names, "first event")
	assert.Positive(t, attrs(call)["gen_ai.usage.output_tokens"].AsInt64(), "usage from the last chunk")
	noSecrets(t, spans)
}

func TestAnthropicStreamSpanHasBothTokenCounts(t *testing.T) {
	up := khivetest.New()
	t.Cleanup(up.Close)
	spans := tracetest.NewSpanRecorder()
	e := start(t, endpoint.Config{Name: "claude", Provider: "anthropic", Kind: "messages", BaseURL: up.BaseURL(), Path: "messages",
		Auth: endpoint.AuthXAPIKey, APIKey: endpoint.NewSecret(testKey), Headers: map[string]string{"anthropic-version": "2023-06-01"}},
		endpoint.WithDialect(anthropic.Dialect), endpoint.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))))
	s, err := e.Stream(context.Background(), endpoint.Request{Body: map[string]any{"model": "claude-x", "max_tokens": 50, "stream": true,
		"messages": []any{map[string]any{"role": "user", "content": secretPrompt}}}})
	require.NoError(t, err)
	for s.Next() {
	}
	require.NoError(t, s.Err())
	require.NoError(t, s.Close())
	call := spans.Ended()[len(spans.Ended())-1]
	a := attrs(call)
	assert.Positive(t, a["gen_ai.usage.input_tokens"].AsInt64(), "input from message_start")
	assert.Positive(t, a["gen_ai.usage.output_tokens"].AsInt64(), "output from message_delta")
	assert.Equal(t, "msg_fake", a["gen_ai.response.id"].AsString())
}

// An endpoint without WithTracerProvider starts no span while the
// application has set no global provider, and follows one set later,
// after the endpoint started.
func TestGlobalTracerProviderSetLaterIsFollowed(t *testing.T) {
	up := khivetest.New()
	t.Cleanup(up.Close)
	e := start(t, endpoint.Config{Name: "global", Provider: "openai", Kind: "chat", BaseURL: up.BaseURL(), Path: "chat/completions",
		APIKey: endpoint.NewSecret(testKey)})
	_, err := e.Call(context.Background(), endpoint.Request{Body: tracedBody})
	require.NoError(t, err)

	spans := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	_, err = e.Call(context.Background(), endpoint.Request{Body: tracedBody})
	require.NoError(t, err)
	ended := spans.Ended()
	require.Len(t, ended, 2, "the call's span and its attempt's")
	assert.Equal(t, "chat gpt-4o", ended[1].Name())

	// Set again (otel's global delegates only to the first it is given):
	// followed too.
	again := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(again)))
	_, err = e.Call(context.Background(), endpoint.Request{Body: tracedBody})
	require.NoError(t, err)
	assert.Len(t, again.Ended(), 2, "the second provider's spans")
	assert.Len(t, spans.Ended(), 2, "none more to the first")
}
