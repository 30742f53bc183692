package endpoint_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/endpoint"
)

func cachedConfig(u *upstream, ttl time.Duration, maxEntries int) endpoint.Config {
	cfg := baseConfig(u)
	cfg.Cache = endpoint.CacheConfig{TTL: ttl, MaxEntries: maxEntries}
	return cfg
}

func TestCacheHitAndOptIn(t *testing.T) {
	u := newUpstream(t, okJSON)
	e := start(t, cachedConfig(u, time.Hour, 10))
	req := endpoint.Request{Body: map[string]any{"b": 2, "a": 1}, Cache: true}
	first, err := e.Call(context.Background(), req)
	require.NoError(t, err)
	assert.False(t, first.Cached)
	// Same body, keys in another order: the canonical body matches.
	second, err := e.Call(context.Background(), endpoint.Request{Body: []byte(`{"a":1, "b":2}`), Cache: true})
	require.NoError(t, err)
	assert.True(t, second.Cached)
	assert.Equal(t, first.Body, second.Body)
	assert.Equal(t, int64(1), u.requests.Load())

	_, err = e.Call(context.Background(), endpoint.Request{Body: map[string]any{"a": 1, "b": 2}})
	require.NoError(t, err)
	assert.Equal(t, int64(2), u.requests.Load(), "a request that does not opt in skips the cache")
}

func TestCacheKeyIgnoresTheKey(t *testing.T) {
	u := newUpstream(t, okJSON)
	// Two endpoints with different keys and the same URL would share
	// nothing anyway; within one endpoint, request headers do not split
	// entries: the key is method, URL and body only.
	e := start(t, cachedConfig(u, time.Hour, 10))
	req := endpoint.Request{Body: map[string]any{"q": 1}, Cache: true}
	_, err := e.Call(context.Background(), req)
	require.NoError(t, err)
	req.Headers = http.Header{"X-Trace": {"other"}}
	r, err := e.Call(context.Background(), req)
	require.NoError(t, err)
	assert.True(t, r.Cached)
}

func TestCacheEviction(t *testing.T) {
	u := newUpstream(t, okJSON)
	e := start(t, cachedConfig(u, time.Hour, 2))
	call := func(n int) *endpoint.Response {
		r, err := e.Call(context.Background(), endpoint.Request{Body: map[string]any{"n": n}, Cache: true})
		require.NoError(t, err)
		return r
	}
	call(1)
	call(2)
	call(3) // evicts 1, the least recently used
	assert.Equal(t, 2, e.CacheLen())
	assert.True(t, call(3).Cached)
	assert.True(t, call(2).Cached)
	assert.False(t, call(1).Cached, "evicted")
	assert.Equal(t, int64(4), u.requests.Load()) // expiry: TestCacheTTLWithFakeTime
}

func TestCacheOnly2xx(t *testing.T) {
	u := newUpstream(t, status(404))
	e := start(t, cachedConfig(u, time.Hour, 10))
	for range 2 {
		_, err := e.Call(context.Background(), endpoint.Request{Cache: true})
		require.Error(t, err)
	}
	assert.Equal(t, int64(2), u.requests.Load())
	assert.Zero(t, e.CacheLen())
}

func TestCacheCollapsesConcurrentIdenticalRequests(t *testing.T) {
	release := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { <-release; okJSON(w, r) })
	e := start(t, cachedConfig(u, time.Hour, 10))
	var wg sync.WaitGroup
	results := make(chan *endpoint.Response, 50)
	for range 50 {
		wg.Go(func() {
			r, err := e.Call(context.Background(), endpoint.Request{Body: map[string]any{"same": true}, Cache: true})
			assert.NoError(t, err)
			results <- r
		})
	}
	for e.CacheWaiting() < 49 {
		time.Sleep(time.Millisecond) // until 49 callers wait on the first
	}
	close(release)
	wg.Wait()
	close(results)
	n := 0
	for r := range results {
		n++
		assert.JSONEq(t, `{"ok":true}`, string(r.Body))
	}
	assert.Equal(t, 50, n)
	assert.Equal(t, int64(1), u.requests.Load(), "one upstream call for 50 identical requests")
}

func TestCacheWaiterRetriesWhenLeaderCancels(t *testing.T) {
	started := make(chan struct{}, 2)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(50 * time.Millisecond):
			okJSON(w, r)
		}
	})
	e := start(t, cachedConfig(u, time.Hour, 10))
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	req := endpoint.Request{Body: map[string]any{"x": 1}, Cache: true}
	go func() { _, err := e.Call(leaderCtx, req); leaderErr <- err }()
	<-started
	waiter := make(chan *endpoint.Response, 1)
	go func() { r, _ := e.Call(context.Background(), req); waiter <- r }()
	for e.CacheWaiting() < 1 {
		time.Sleep(time.Millisecond)
	}
	cancelLeader()
	assert.ErrorIs(t, <-leaderErr, context.Canceled)
	r := <-waiter
	require.NotNil(t, r, "the waiter made the call itself instead of inheriting the leader's cancellation")
	assert.Equal(t, 200, r.Status)
}
