package endpoint_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/endpoint"
)

func TestAdaptiveLimitsFollowResponseHeaders(t *testing.T) {
	var n atomic.Int64
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			// The window is spent; it resets in 300 ms.
			w.Header().Set("x-ratelimit-remaining-requests", "0")
			w.Header().Set("x-ratelimit-reset-requests", "300ms")
		}
		okJSON(w, r)
	})
	cfg := baseConfig(u)
	cfg.Limits = endpoint.Limits{RequestsPerMinute: 60_000, Burst: 10, Adaptive: true}
	e := start(t, cfg)
	_, err := e.Call(context.Background(), endpoint.Request{})
	require.NoError(t, err)
	began := time.Now()
	_, err = e.Call(context.Background(), endpoint.Request{})
	require.NoError(t, err)
	// A lower bound only: the pause guarantees at least the reset.
	assert.GreaterOrEqual(t, time.Since(began), 290*time.Millisecond, "the second call waited for the window to reset")
	assert.Positive(t, e.Stats().LimiterWait)
}

// No answer can shut an adaptive endpoint for long: a Retry-After of
// years on a 429 pauses it for retry.max_retry_after at most, a
// Retry-After on a 200 is no pause at all, and the first hint cut is
// logged once at Warn with the endpoint's name.
func TestHintsAnAnswerGivesAreCapped(t *testing.T) {
	var n atomic.Int64
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "99999999")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":{"message":"slow down"}}`))
			return
		case 2, 3:
			w.Header().Set("Retry-After", "3600")
			w.Header().Set("x-ratelimit-remaining-requests", "0")
			w.Header().Set("x-ratelimit-reset-requests", "8760h")
		}
		okJSON(w, r)
	})
	cfg := baseConfig(u)
	cfg.Limits = endpoint.Limits{Adaptive: true, MaxWait: 5 * time.Second}
	cfg.Retry = endpoint.RetryConfig{MaxAttempts: 1, MaxRetryAfter: 50 * time.Millisecond}
	log, logs := logged()
	e := start(t, cfg, endpoint.WithLogger(log))
	_, err := e.Call(context.Background(), endpoint.Request{})
	var se *endpoint.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 50*time.Millisecond, se.RetryAfter, "the hint passed on is capped")
	for i := range 3 { // the 429's pause, then a 200 with Retry-After and a window spent for a year
		_, err = e.Call(context.Background(), endpoint.Request{})
		require.NoError(t, err, "call %d: paused for the cap at most, never refused", i+2)
	}
	warned := logs.FilterMessageSnippet("longer than retry.max_retry_after").All()
	require.Len(t, warned, 1)
	assert.Equal(t, "test", warned[0].ContextMap()["name"])
}
