package endpoint_test

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
)

// Attempts count what reached the upstream: net/http's replay of a GET on
// a kept-alive connection that died under it is one more, though khive
// made one attempt.
func TestAttemptsCountTransportReplays(t *testing.T) {
	var n atomic.Int64
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 2 { // the second request, on the kept-alive connection: read, then hang up
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		okJSON(w, r)
	})
	cfg := baseConfig(u)
	cfg.Retry = endpoint.RetryConfig{MaxAttempts: 1}
	e := start(t, cfg)
	get := endpoint.Request{Method: http.MethodGet, Path: "models"}
	first, err := e.Call(context.Background(), get)
	require.NoError(t, err)
	assert.Equal(t, 1, first.Attempts)

	second, err := e.Call(context.Background(), get)
	require.NoError(t, err, "net/http replayed the GET on a new connection")
	assert.EqualValues(t, 3, u.requests.Load())
	assert.Equal(t, 2, second.Attempts, "both requests reached the upstream")
	assert.EqualValues(t, 0, e.Retries(), "khive made one attempt")
}

func TestAttemptsOfFailedCalls(t *testing.T) {
	t.Run("a retry refused by the limits still counts the first", func(t *testing.T) {
		u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
		cfg := baseConfig(u)
		cfg.Retry = endpoint.RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
		cfg.Limits = endpoint.Limits{RequestsPerSecond: 1, Burst: 1, MaxWait: 20 * time.Millisecond}
		e := start(t, cfg)
		_, err := e.Call(context.Background(), endpoint.Request{})
		require.ErrorIs(t, err, executor.ErrOverloaded)
		assert.Equal(t, 1, endpoint.AttemptsOf(err))
		assert.EqualValues(t, 1, u.requests.Load())
	})
	t.Run("a status error after retries", func(t *testing.T) {
		u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
		cfg := baseConfig(u)
		cfg.Retry = endpoint.RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
		e := start(t, cfg)
		_, err := e.Call(context.Background(), endpoint.Request{})
		var se *endpoint.StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 3, se.Attempts)
		assert.Equal(t, 3, endpoint.AttemptsOf(err))
	})
	t.Run("an upstream that cannot be reached", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		l.Close() // nothing listens there now
		e := start(t, endpoint.Config{Name: "down", Provider: "openai", BaseURL: "http://" + addr + "/v1", Auth: endpoint.AuthNone,
			Retry: endpoint.RetryConfig{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
		_, err = e.Call(context.Background(), endpoint.Request{})
		var te *endpoint.TransportError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 2, te.Attempt)
		assert.Equal(t, 0, endpoint.AttemptsOf(err), "no request reached it")
	})
}
