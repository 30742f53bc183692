package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/khive-go/khive/endpoint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/time/rate"
)

// redisStore starts a Store on m the way fx would.
func redisStore(t *testing.T, m *miniredis.Miniredis, onErr string) (*Store, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.InfoLevel)
	lc := fxtest.NewLifecycle(t)
	s, err := NewStore(StoreParams{Lifecycle: lc, Logger: zap.New(core),
		Config: Config{Store: StoreConfig{Type: "redis", URL: "redis://" + m.Addr(), OnStoreError: onErr}}})
	require.NoError(t, err)
	lc.RequireStart()
	t.Cleanup(lc.RequireStop)
	return s, logs
}

// fakeTimeRedis is a miniredis whose clock (the one the Lua scripts read)
// stands at t0.
func fakeTimeRedis(t *testing.T) (*miniredis.Miniredis, time.Time) {
	m := miniredis.RunT(t)
	t0 := time.Unix(1_800_000_000, 0)
	m.SetTime(t0)
	return m, t0
}

func TestRedisStoreGCRAInFakeTime(t *testing.T) {
	m, t0 := fakeTimeRedis(t)
	s, _ := redisStore(t, m, "")
	k := newClientKeys([]ClientKey{{Key: "k", Name: "team", RequestsPerMinute: 600}})[0] // 10/s, burst 10
	ctx := context.Background()
	for i := range 10 {
		require.Nil(t, s.rates(ctx, k, t0, 0), "burst request %d", i)
	}
	refused := s.rates(ctx, k, t0, 0)
	require.NotNil(t, refused)
	assert.Equal(t, http.StatusTooManyRequests, refused.status)
	assert.Equal(t, "100", refused.header.Get("Retry-After-Ms"), "the next request is due in one emission interval")

	// Ten seconds of requests every 10 ms, in Redis's time: 100 admitted.
	admitted := 0
	for i := 1; i <= 1000; i++ {
		m.SetTime(t0.Add(time.Duration(i) * 10 * time.Millisecond))
		if s.rates(ctx, k, time.Time{}, 0) == nil {
			admitted++
		}
	}
	assert.Equal(t, 100, admitted)
	assert.True(t, m.Exists("khive:key:team"), "counted under the key's name, never the key")
}

func TestRedisStoreFailureAllowCountsLocally(t *testing.T) {
	m := miniredis.RunT(t)
	s, logs := redisStore(t, m, "allow")
	s.replicas.Store(2)                                                                  // as if a second replica had been seen
	k := newClientKeys([]ClientKey{{Key: "k", Name: "team", RequestsPerMinute: 240}})[0] // 4/s, burst 4
	ctx := context.Background()

	m.Close()
	now := time.Now()
	admitted := 0
	for range 10 {
		if s.rates(ctx, k, now, 0) == nil {
			admitted++
		}
	}
	assert.Equal(t, 2, admitted, "the local fallback allows the key's burst divided by the replicas")
	assert.True(t, s.failing.Load())
	assert.Equal(t, int64(10), s.fallback.Load())
	assert.Equal(t, 1, logs.FilterMessage("redis failing: limits counted locally").Len(), "logged once per transition")

	require.NoError(t, m.Restart())
	assert.NotNil(t, s.rates(ctx, k, now, 0), "until a heartbeat finds Redis back, the local count holds")
	s.beat(ctx) // the heartbeat, every 2 s
	require.Nil(t, s.rates(ctx, k, now, 0), "Redis back: its count applies again")
	assert.True(t, m.Exists("khive:key:team"))
	assert.False(t, s.failing.Load())
	assert.Equal(t, 1, logs.FilterMessage("redis back: limits shared again").Len())
}

func TestRedisStoreFailureDeny(t *testing.T) {
	m := miniredis.RunT(t)
	s, _ := redisStore(t, m, "deny")
	k := newClientKeys([]ClientKey{{Key: "k", Name: "team", RequestsPerMinute: 600, MaxConcurrency: 1}})[0]
	m.Close()
	_, refused := s.enter(context.Background(), k, time.Now(), 0)
	require.NotNil(t, refused)
	assert.Equal(t, http.StatusServiceUnavailable, refused.status)
	assert.Equal(t, "store_unavailable", refused.code)
	assert.Equal(t, int64(0), k.inFlight.Load(), "a refusal gives its concurrency slot back")

	// A key with only max_concurrency is denied too: deny covers every limit.
	conc := newClientKeys([]ClientKey{{Key: "c", Name: "conc-only", MaxConcurrency: 4}})[0]
	_, refused = s.enter(context.Background(), conc, time.Now(), 0)
	require.NotNil(t, refused, "on_store_error: deny applies to concurrency")
	assert.Equal(t, http.StatusServiceUnavailable, refused.status)
	assert.Equal(t, "store_unavailable", refused.code)
	assert.Equal(t, int64(0), conc.inFlight.Load())
	require.NoError(t, m.Restart())
}

func TestRedisStoreStartFailsClearly(t *testing.T) {
	m := miniredis.RunT(t)
	addr := m.Addr()
	m.Close()
	lc := fxtest.NewLifecycle(t)
	_, err := NewStore(StoreParams{Lifecycle: lc, Config: Config{Store: StoreConfig{Type: "redis", URL: "redis://:hunter2@" + addr}}})
	require.NoError(t, err)
	err = lc.Start(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gateway.store: redis at "+addr)
	assert.NotContains(t, err.Error(), "hunter2")
}

func TestStoreConfigValidation(t *testing.T) {
	c := Config{Listen: "127.0.0.1:0", Store: StoreConfig{Type: "redis", URL: "http://:hunter2@x", OnStoreError: "maybe", Timeout: -1}}
	err := c.Validate(nil)
	require.Error(t, err)
	for _, f := range []string{"gateway.store.url", "gateway.store.on_store_error", "gateway.store.timeout"} {
		assert.Contains(t, err.Error(), f)
	}
	assert.NotContains(t, err.Error(), "hunter2")
	assert.True(t, strings.Contains(Config{Listen: "127.0.0.1:0", Store: StoreConfig{Type: "etcd"}}.Validate(nil).Error(), "gateway.store.type"))
}

func TestRedisStoreAdmitsBothLimitsOrNeither(t *testing.T) {
	m, t0 := fakeTimeRedis(t)
	s, _ := redisStore(t, m, "")
	k := newClientKeys([]ClientKey{{Key: "k", Name: "team", RequestsPerMinute: 120, TokensPerMinute: 600}})[0] // burst 2 requests, 600 tokens
	ctx := context.Background()

	require.Nil(t, s.rates(ctx, k, t0, 500))
	refused := s.rates(ctx, k, t0, 200)
	require.NotNil(t, refused, "500 + 200 tokens is over the 600 burst")
	assert.Contains(t, refused.message, "tokens_per_minute")
	assert.Equal(t, "10000", refused.header.Get("Retry-After-Ms"), "100 tokens short at 10 tokens/s")
	require.Nil(t, s.rates(ctx, k, t0, 50), "the refused request took no request token")
	refused = s.rates(ctx, k, t0, 10)
	require.NotNil(t, refused)
	assert.Contains(t, refused.message, "requests_per_minute")

	// Usage beyond the estimate is charged whatever the wait.
	s.charge(k, 600)
	m.SetTime(t0.Add(time.Second)) // a request token is back; the tokens owe 550 + 600 + 1 - 600 - 10
	refused = s.rates(ctx, k, time.Time{}, 1)
	require.NotNil(t, refused)
	assert.Contains(t, refused.message, "tokens_per_minute")
	assert.Equal(t, "54100", refused.header.Get("Retry-After-Ms"))
}

func TestMemoryTokenLimitEstimatesThenCharges(t *testing.T) {
	k := newClientKeys([]ClientKey{{Key: "k", TokensPerMinute: 600}})[0] // 10 tokens/s, burst 600
	t0 := time.Unix(1_000_000, 0)
	require.Nil(t, k.admit(t0, 500))
	refused := k.admit(t0, 200)
	require.NotNil(t, refused)
	assert.Equal(t, "10000", refused.header.Get("Retry-After-Ms"))
	require.Nil(t, k.admit(t0, 100))
	local := func(l *keyLimit) *rate.Limiter { return l.local }
	k.charge(t0, 300, local) // the answers used 300 more than estimated
	refused = k.admit(t0.Add(10*time.Second), 1)
	require.NotNil(t, refused, "the debt holds the next request")
	assert.Equal(t, "20100", refused.header.Get("Retry-After-Ms"))
	assert.Nil(t, k.admit(t0.Add(31*time.Second), 0), "no estimate: one token, due by then")
}

func TestRedisStoreSharesAnEndpointsRates(t *testing.T) {
	m, t0 := fakeTimeRedis(t)
	a, _ := redisStore(t, m, "")
	b, _ := redisStore(t, m, "")
	cfg := endpoint.Config{Name: "up", Limits: endpoint.Limits{RequestsPerMinute: 600, Burst: 10, TokensPerMinute: 6000}}
	la, lb := a.For(cfg), b.For(cfg)
	require.NotNil(t, la)
	require.NotNil(t, lb)

	// Ten requests of 10 tokens through either replica fit the burst; the
	// eleventh is booked one interval (100 ms) ahead.
	for i := range 10 {
		l := la
		if i%2 == 1 {
			l = lb
		}
		r, err := l.Reserve(t0, "", 10)
		require.NoError(t, err)
		assert.Zero(t, r.DelayFrom(t0), "request %d", i)
	}
	r, err := lb.Reserve(t0, "", 10)
	require.NoError(t, err)
	assert.Equal(t, 100*time.Millisecond, r.DelayFrom(t0))
	r.CancelAt(t0)
	r, err = la.Reserve(t0, "", 10)
	require.NoError(t, err)
	assert.Equal(t, 100*time.Millisecond, r.DelayFrom(t0), "the cancelled booking was given back")

	// Tokens: 5900 more is a minute's worth beyond the 6000 burst's remainder.
	r, err = la.Reserve(t0, "", 6000)
	require.NoError(t, err)
	assert.Greater(t, r.DelayFrom(t0), 100*time.Millisecond, "the token limit books later than the request limit")

	assert.Nil(t, a.For(endpoint.Config{Name: "free"}), "no configured rates: nothing shared")
	assert.Nil(t, a.For(endpoint.Config{Name: "learns", Limits: endpoint.Limits{RequestsPerMinute: 60, Burst: 1, Adaptive: true}}))

	// A rate given per second is the same limit: 10/s with a burst of 1
	// books the second request 100 ms ahead.
	ps := a.For(endpoint.Config{Name: "per-second", Limits: endpoint.Limits{RequestsPerSecond: 10, Burst: 1}})
	require.NotNil(t, ps, "requests_per_second is shared too")
	r, err = ps.Reserve(t0, "", 0)
	require.NoError(t, err)
	assert.Zero(t, r.DelayFrom(t0))
	r, err = ps.Reserve(t0, "", 0)
	require.NoError(t, err)
	assert.Equal(t, 100*time.Millisecond, r.DelayFrom(t0))
}

func TestRedisStoreSharesAKeysConcurrency(t *testing.T) {
	m, t0 := fakeTimeRedis(t)
	a, _ := redisStore(t, m, "")
	b, _ := redisStore(t, m, "")
	cfg := []ClientKey{{Key: "k", Name: "team", MaxConcurrency: 2}}
	ka, kb := newClientKeys(cfg)[0], newClientKeys(cfg)[0] // the same key on two replicas
	ctx := context.Background()

	leaveA, aerr := a.enter(ctx, ka, t0, 0)
	require.Nil(t, aerr)
	_, aerr = b.enter(ctx, kb, t0, 0)
	require.Nil(t, aerr)
	_, aerr = a.enter(ctx, ka, t0, 0)
	require.NotNil(t, aerr, "two in progress across the replicas")
	assert.Equal(t, "key_concurrency", aerr.code)
	assert.Equal(t, int64(1), ka.inFlight.Load(), "the refusal holds no local slot")

	leaveA()
	leaveA2, aerr := a.enter(ctx, ka, t0, 0)
	require.Nil(t, aerr, "a slot given back is free again")
	leaveA2()

	// A replica that died holds its lease only until it expires.
	m.SetTime(t0.Add(a.leaseTTL + time.Second))
	_, aerr = a.enter(ctx, ka, time.Time{}, 0)
	require.Nil(t, aerr)
	_, aerr = a.enter(ctx, ka, time.Time{}, 0)
	require.Nil(t, aerr, "b's lease expired")
}
