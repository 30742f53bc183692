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
	"github.com/khive-go/khive/internal/fakeupstream"
	"github.com/khive-go/khive/providers"
)

func TestAnthropicEndpointAgainstTheFake(t *testing.T) {
	up := fakeupstream.New()
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
	var out providers.MessagesResponse
	require.NoError(t, resp.Decode(&out))
	assert.Equal(t, "echo: hello there", out.Content[0].Text)
	assert.Equal(t, upstreamKey, up.Last().Header.Get("X-Api-Key"))
	assert.Equal(t, "2023-06-01", up.Last().Header.Get("Anthropic-Version"))

	up.Script(fakeupstream.Fault{Kind: fakeupstream.Status, Status: 400})
	_, err = e.Call(context.Background(), endpoint.Request{Body: map[string]any{"model": "c", "max_tokens": 1, "messages": []any{}}})
	var se *endpoint.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "invalid_request_error", se.Type, "Anthropic's error body is parsed")
	assert.Equal(t, "fake upstream answered 400", se.Message)
}

// A run of answers whose anthropic-ratelimit-requests-remaining shrinks
// slows admission: the adaptive limiter follows the headers.
func TestAnthropicRateLimitHeadersSlowAdmission(t *testing.T) {
	up := fakeupstream.New()
	defer up.Close()
	var remaining atomic.Int64
	remaining.Store(6000)
	up.SetHeaders(func(h http.Header) {
		r := remaining.Load()
		remaining.Store(r / 10) // 6000, 600, 60
		h.Set("anthropic-ratelimit-requests-limit", "6000")
		h.Set("anthropic-ratelimit-requests-remaining", itoa(r))
		h.Set("anthropic-ratelimit-requests-reset", time.Now().Add(60*time.Second).UTC().Format(time.RFC3339))
	})
	cfg, err := providers.Match("anthropic", "messages", env(), providers.WithBaseURL(up.BaseURL()),
		providers.WithAPIKey(endpoint.NewSecret("k")),
		providers.WithLimits(endpoint.Limits{RequestsPerMinute: 6000, Burst: 1, Adaptive: true}))
	require.NoError(t, err)
	e, err := providers.NewEndpoint(cfg)
	require.NoError(t, err)
	require.NoError(t, e.Start(context.Background()))
	defer e.Stop(context.Background())
	body := map[string]any{"model": "c", "max_tokens": 5, "messages": []any{map[string]any{"role": "user", "content": "x"}}}

	var rates []float64
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := e.Call(ctx, endpoint.Request{Body: body})
		cancel()
		require.NoError(t, err)
		rates = append(rates, e.RequestRate())
	}
	// 6000, 600 and 60 left of the minute × 0.9 safety, floored at 1% of
	// the 100/s ceiling (the reset has whole seconds, hence the epsilon).
	assert.InEpsilonSlice(t, []float64{90, 9, 1}, rates, 0.03)

	// Admission has slowed: the next token is a second away, more than a
	// 20 ms deadline allows, so the call is refused at once.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = e.Call(ctx, endpoint.Request{Body: body})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, int64(3), up.Requests())
}

func itoa(n int64) string { return strconvItoa(n) }
