package providers_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/anthropic"
)

func TestAnthropicEndpointAgainstTheFake(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	up.Key = upstreamKey
	cfg, err := providers.Match("anthropic", "messages", env(), providers.WithBaseURL(up.BaseURL()),
		providers.WithAPIKey(endpoint.NewSecret(upstreamKey)))
	require.NoError(t, err)
	e, err := providers.NewEndpoint(cfg)
	require.NoError(t, err)
	require.NoError(t, e.Start(context.Background()))
	defer e.Stop(context.Background())

	resp, err := e.Call(context.Background(), endpoint.Request{Body: map[string]any{
		"model": "claude-sonnet", "max_tokens": 100, "messages": []any{map[string]any{"role": "user", "content": "hello there"}},
	}})
	require.NoError(t, err)
	var out anthropic.MessagesResponse
	require.NoError(t, resp.Decode(&out))
	assert.Equal(t, "echo: hello there", out.Content[0].Text)
	assert.Equal(t, upstreamKey, up.Last().Header.Get("X-Api-Key"))
	assert.Equal(t, "2023-06-01", up.Last().Header.Get("Anthropic-Version"))

	up.Script(khivetest.Fault{Kind: khivetest.Status, Status: 400})
	_, err = e.Call(context.Background(), endpoint.Request{Body: map[string]any{"model": "c", "max_tokens": 1, "messages": []any{}}})
	var se *endpoint.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "invalid_request_error", se.Type, "Anthropic's error body is parsed")
	assert.Equal(t, "fake upstream answered 400", se.Message)
}

// Anthropic's rate-limit headers, read in their meaning (reset = the instant
// the bucket is full again), teach the adaptive limiter the bucket: an
// emptied bucket of 10 that is full again in 1 s refills at 9.5/s.
func TestAnthropicRateLimitHeadersSlowAdmission(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	var remaining atomic.Int64
	remaining.Store(10)
	up.SetHeaders(func(h http.Header) {
		r := max(remaining.Add(-5), 0) // 5, then 0
		h.Set("anthropic-ratelimit-requests-limit", "10")
		h.Set("anthropic-ratelimit-requests-remaining", itoa(r))
		full := time.Duration(float64(10-r) / 10 * float64(time.Second))
		h.Set("anthropic-ratelimit-requests-reset", time.Now().Add(full).UTC().Format(time.RFC3339Nano))
	})
	cfg, err := providers.Match("anthropic", "messages", env(), providers.WithBaseURL(up.BaseURL()),
		providers.WithAPIKey(endpoint.NewSecret("k")),
		providers.WithLimits(endpoint.Limits{Adaptive: true})) // no ceiling: the headers say it all
	require.NoError(t, err)
	e, err := providers.NewEndpoint(cfg)
	require.NoError(t, err)
	require.NoError(t, e.Start(context.Background()))
	defer e.Stop(context.Background())
	body := map[string]any{"model": "c", "max_tokens": 5, "messages": []any{map[string]any{"role": "user", "content": "x"}}}

	for range 2 {
		_, err := e.Call(context.Background(), endpoint.Request{Body: body})
		require.NoError(t, err)
	}
	// (10 − 0 − ½ for rounding) per second, × 0.9 safety.
	assert.InEpsilon(t, 9.5*0.9, e.RequestRate(), 0.03)

	// The bucket is empty: the next request is ~0.2 s away, more than a
	// 20 ms deadline allows, so the call is refused at once.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = e.Call(ctx, endpoint.Request{Body: body})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, int64(2), up.Requests())
}

func itoa(n int64) string { return strconvItoa(n) }
