package admission

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/endpoint"
)

func TestRedisStoreSharesAnEndpointsRates(t *testing.T) {
	m := miniredis.RunT(t)
	t0 := time.Unix(1_800_000_000, 0)
	m.SetTime(t0)
	a, _ := openRedis(t, StoreConfig{URL: "redis://" + m.Addr()})
	b, _ := openRedis(t, StoreConfig{URL: "redis://" + m.Addr()})
	cfg := endpoint.Config{Name: "up", Limits: endpoint.Limits{RequestsPerMinute: 600, Burst: 10, TokensPerMinute: 6000}}
	la, lb := a.For(cfg), b.For(cfg)
	require.NotNil(t, la)
	require.NotNil(t, lb)
	ctx := context.Background()

	// Ten requests of 10 tokens through either replica fit the burst; the
	// eleventh is booked one interval (100 ms) ahead.
	for i := range 10 {
		l := la
		if i%2 == 1 {
			l = lb
		}
		r, err := l.Reserve(ctx, t0, "", 10)
		require.NoError(t, err)
		assert.Zero(t, r.DelayFrom(t0), "request %d", i)
	}
	r, err := lb.Reserve(ctx, t0, "", 10)
	require.NoError(t, err)
	assert.Equal(t, 100*time.Millisecond, r.DelayFrom(t0))
	r.CancelAt(t0)
	r, err = la.Reserve(ctx, t0, "", 10)
	require.NoError(t, err)
	assert.Equal(t, 100*time.Millisecond, r.DelayFrom(t0), "the cancelled booking was given back")

	// Tokens: 5900 more is a minute's worth beyond the 6000 burst's remainder.
	r, err = la.Reserve(ctx, t0, "", 6000)
	require.NoError(t, err)
	assert.Greater(t, r.DelayFrom(t0), 100*time.Millisecond, "the token limit books later than the request limit")

	assert.Nil(t, a.For(endpoint.Config{Name: "free"}), "no configured rates: nothing shared")
	assert.Nil(t, a.For(endpoint.Config{Name: "learns", Limits: endpoint.Limits{RequestsPerMinute: 60, Burst: 1, Adaptive: true}}))
	assert.Nil(t, newMemory().For(cfg), "memory shares nothing")

	// A rate given per second is the same limit: 10/s with a burst of 1
	// books the second request 100 ms ahead.
	ps := a.For(endpoint.Config{Name: "per-second", Limits: endpoint.Limits{RequestsPerSecond: 10, Burst: 1}})
	require.NotNil(t, ps, "requests_per_second is shared too")
	r, err = ps.Reserve(ctx, t0, "", 0)
	require.NoError(t, err)
	assert.Zero(t, r.DelayFrom(t0))
	r, err = ps.Reserve(ctx, t0, "", 0)
	require.NoError(t, err)
	assert.Equal(t, 100*time.Millisecond, r.DelayFrom(t0))
}

func TestSharedReserveEndsWithItsCaller(t *testing.T) {
	m := miniredis.RunT(t)
	s, _ := openRedis(t, StoreConfig{URL: "redis://" + m.Addr()})
	l := s.For(endpoint.Config{Name: "up", Limits: endpoint.Limits{RequestsPerMinute: 60, Burst: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Reserve(ctx, time.Now(), "", 0)
	require.ErrorIs(t, err, context.Canceled)
	assert.True(t, s.Health().Up, "a caller that left is no Redis failure")
	assert.Zero(t, s.Health().Fallbacks, "nor decided locally")
	r, err := l.Reserve(context.Background(), time.Now(), "", 0)
	require.NoError(t, err)
	assert.Zero(t, r.DelayFrom(time.Now()), "the left caller booked nothing")
}
