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
