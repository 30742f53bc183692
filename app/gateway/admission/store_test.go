package admission

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/khive-go/khive/internal/fielderr"
	"github.com/khive-go/khive/internal/redistest"
)

// fixture is one store under test, and how to make its Redis fail (nil
// for memory).
type fixture struct {
	name  string
	store Store
	down  func()
}

// openRedis starts a Redis store on url the way the gateway's hooks would.
func openRedis(t *testing.T, cfg StoreConfig) (*redisStore, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	cfg.Type = "redis"
	s, err := newRedis(cfg, zap.New(core))
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s, logs
}

// stores are the stores every behaviour is checked on: memory, Redis on
// miniredis, and a real redis-server.
func stores(t *testing.T, cfg StoreConfig) []fixture {
	m := miniredis.RunT(t)
	mcfg := cfg
	mcfg.URL = "redis://" + m.Addr()
	mini, _ := openRedis(t, mcfg)
	fs := []fixture{{name: "memory", store: newMemory()}, {name: "miniredis", store: mini, down: m.Close}}
	if redistest.Available() {
		r := redistest.Start(t)
		rcfg := cfg
		rcfg.URL = r.URL()
		real, _ := openRedis(t, rcfg)
		fs = append(fs, fixture{name: "redis-server", store: real, down: r.Kill})
	}
	return fs
}

func key(t *testing.T, c ClientKey) *Key {
	t.Helper()
	c.Key = "secret-" + c.Name
	require.NoError(t, ValidateKeys([]ClientKey{c}, nil))
	r := NewKeyring([]ClientKey{c}, nil)
	require.Equal(t, 1, r.Len())
	return r.Find(c.Key)
}

func limitError(t *testing.T, err error) *LimitError {
	t.Helper()
	var le *LimitError
	require.ErrorAs(t, err, &le)
	return le
}

func TestStoreRequestRate(t *testing.T) {
	for _, f := range stores(t, StoreConfig{}) {
		t.Run(f.name, func(t *testing.T) {
			k := key(t, ClientKey{Name: "rate-" + f.name, RequestsPerMinute: 600}) // 10/s, burst 10
			for i := range 10 {
				l, err := f.store.Admit(context.Background(), k, 0)
				require.NoError(t, err, "burst request %d", i)
				l.End(0)
			}
			_, err := f.store.Admit(context.Background(), k, 0)
			le := limitError(t, err)
			assert.Equal(t, "requests_per_minute", le.Limit)
			assert.Equal(t, k.Name(), le.Key)
			assert.False(t, le.Concurrency())
			assert.Positive(t, le.RetryAfter)
			assert.LessOrEqual(t, le.RetryAfter, 100*time.Millisecond, "the next request is due within one emission interval")
			assert.NotContains(t, err.Error(), "secret", "an error names the key, never shows it")
		})
	}
}

func TestStoreTokenCostsEstimatedThenCharged(t *testing.T) {
	for _, f := range stores(t, StoreConfig{}) {
		t.Run(f.name, func(t *testing.T) {
			k := key(t, ClientKey{Name: "tok-" + f.name, TokensPerMinute: 600}) // 10 tokens/s, burst 600
			ctx := context.Background()
			first, err := f.store.Admit(ctx, k, 500)
			require.NoError(t, err)
			_, err = f.store.Admit(ctx, k, 200)
			le := limitError(t, err)
			assert.Equal(t, "tokens_per_minute", le.Limit)
			assert.InDelta(t, 10*time.Second, le.RetryAfter, float64(time.Second), "100 tokens short at 10 tokens/s")
			small, err := f.store.Admit(ctx, k, 50)
			require.NoError(t, err, "the refusal took nothing")
			small.End(50)

			first.End(500 + 600) // the answer used 600 more than estimated: a debt
			first.End(5000)      // a second End does nothing
			_, err = f.store.Admit(ctx, k, 1)
			le = limitError(t, err)
			assert.InDelta(t, 55*time.Second, le.RetryAfter, float64(2*time.Second), "50 left - 600 owed: 551 tokens short")
		})
	}
}

func TestStoreConcurrencySlots(t *testing.T) {
	for _, f := range stores(t, StoreConfig{}) {
		t.Run(f.name, func(t *testing.T) {
			k := key(t, ClientKey{Name: "conc-" + f.name, MaxConcurrency: 2})
			ctx := context.Background()
			a, err := f.store.Admit(ctx, k, 0)
			require.NoError(t, err)
			_, err = f.store.Admit(ctx, k, 0)
			require.NoError(t, err)
			_, err = f.store.Admit(ctx, k, 0)
			le := limitError(t, err)
			assert.True(t, le.Concurrency())
			assert.Equal(t, 2, le.Max)
			assert.Equal(t, time.Second, le.RetryAfter)
			assert.Equal(t, int64(2), k.inFlight.Load(), "the refusal holds no slot")

			a.End(0)
			a.End(0) // idempotent: it frees one slot, not two
			_, err = f.store.Admit(ctx, k, 0)
			require.NoError(t, err, "a slot given back is free again")
			_, err = f.store.Admit(ctx, k, 0)
			assert.True(t, limitError(t, err).Concurrency(), "one End freed one slot")
		})
	}
}

func TestStoreAdmitsEveryLimitOrNone(t *testing.T) {
	for _, f := range stores(t, StoreConfig{}) {
		t.Run(f.name, func(t *testing.T) {
			k := key(t, ClientKey{Name: "both-" + f.name, RequestsPerMinute: 120, TokensPerMinute: 600, MaxConcurrency: 5}) // burst 2 requests, 600 tokens
			ctx := context.Background()
			_, err := f.store.Admit(ctx, k, 500)
			require.NoError(t, err)
			_, err = f.store.Admit(ctx, k, 200)
			assert.Equal(t, "tokens_per_minute", limitError(t, err).Limit, "500 + 200 tokens is over the 600 burst")
			_, err = f.store.Admit(ctx, k, 50)
			require.NoError(t, err, "the refused request took no request token")
			_, err = f.store.Admit(ctx, k, 10)
			assert.Equal(t, "requests_per_minute", limitError(t, err).Limit)
			assert.Equal(t, int64(2), k.inFlight.Load(), "refusals gave their slots back")
		})
	}
}

func TestStoreDenyCoversEveryLimit(t *testing.T) {
	for _, f := range stores(t, StoreConfig{OnStoreError: "deny"}) {
		if f.down == nil {
			continue // memory has nothing to fail
		}
		t.Run(f.name, func(t *testing.T) {
			keys := []*Key{
				key(t, ClientKey{Name: "rpm", RequestsPerMinute: 600}),
				key(t, ClientKey{Name: "tpm", TokensPerMinute: 600}),
				key(t, ClientKey{Name: "conc", MaxConcurrency: 4}),
			}
			free := key(t, ClientKey{Name: "free"})
			f.down()
			for _, k := range keys {
				_, err := f.store.Admit(context.Background(), k, 10)
				require.ErrorIs(t, err, ErrStoreUnavailable, k.Name())
				assert.Zero(t, k.inFlight.Load())
			}
			l, err := f.store.Admit(context.Background(), free, 10)
			require.NoError(t, err, "a key without limits needs no store")
			l.End(10)
			assert.False(t, f.store.Health().Up)
			assert.Equal(t, int64(3), f.store.Health().Fallbacks)
		})
	}
}

func TestRedisStoreAllowCountsLocallyWhileRedisFails(t *testing.T) {
	m := miniredis.RunT(t)
	s, logs := openRedis(t, StoreConfig{URL: "redis://" + m.Addr(), OnStoreError: "allow"})
	s.replicas.Store(2)                                          // as if a second replica had been seen
	k := key(t, ClientKey{Name: "team", RequestsPerMinute: 240}) // 4/s, burst 4
	conc := key(t, ClientKey{Name: "conc", MaxConcurrency: 4})   // 2 per replica while Redis fails
	ctx := context.Background()

	m.Close()
	admitted := 0
	for range 10 {
		if _, err := s.Admit(ctx, k, 0); err == nil {
			admitted++
		}
	}
	assert.Equal(t, 2, admitted, "the local fallback allows the key's burst divided by the replicas")
	for i := range 3 {
		_, err := s.Admit(ctx, conc, 0)
		if i < 2 {
			require.NoError(t, err)
		} else {
			assert.True(t, limitError(t, err).Concurrency(), "max_concurrency divided by the replicas")
		}
	}
	h := s.Health()
	assert.False(t, h.Up)
	assert.Equal(t, int64(13), h.Fallbacks, "every admission decided without Redis, the refusals too")
	assert.Equal(t, 1, logs.FilterMessage("redis failing: limits counted locally").Len(), "logged once per transition")

	require.NoError(t, m.Restart())
	_, err := s.Admit(ctx, k, 0)
	assert.Error(t, err, "until a heartbeat finds Redis back, the local count holds")
	s.beat(ctx) // the heartbeat
	_, err = s.Admit(ctx, k, 0)
	require.NoError(t, err, "Redis back: its count applies again")
	assert.True(t, m.Exists("khive:key:team"), "counted under the key's name, never the key")
	assert.True(t, s.Health().Up)
	assert.Equal(t, 1, logs.FilterMessage("redis back: limits shared again").Len())
}

func TestRedisStoreGCRAInFakeTime(t *testing.T) {
	m := miniredis.RunT(t)
	t0 := time.Unix(1_800_000_000, 0)
	m.SetTime(t0)
	s, _ := openRedis(t, StoreConfig{URL: "redis://" + m.Addr()})
	k := key(t, ClientKey{Name: "team", RequestsPerMinute: 600}) // 10/s, burst 10
	ctx := context.Background()
	for range 10 {
		_, err := s.Admit(ctx, k, 0)
		require.NoError(t, err)
	}
	_, err := s.Admit(ctx, k, 0)
	assert.Equal(t, 100*time.Millisecond, limitError(t, err).RetryAfter, "exactly one emission interval on Redis's clock")

	// Ten seconds of requests every 10 ms, in Redis's time: 100 admitted.
	admitted := 0
	for i := 1; i <= 1000; i++ {
		m.SetTime(t0.Add(time.Duration(i) * 10 * time.Millisecond))
		if _, err := s.Admit(ctx, k, 0); err == nil {
			admitted++
		}
	}
	assert.Equal(t, 100, admitted)
}

func TestRedisStoreStartFailsClearly(t *testing.T) {
	m := miniredis.RunT(t)
	addr := m.Addr()
	m.Close()
	s, err := newRedis(StoreConfig{URL: "redis://:hunter2@" + addr}, nil)
	require.NoError(t, err)
	err = s.Start(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gateway.store: redis at "+addr)
	assert.NotContains(t, err.Error(), "hunter2")
}

func TestStoreConfigValidation(t *testing.T) {
	err := StoreConfig{Type: "redis", URL: "http://:hunter2@x", OnStoreError: "maybe", Timeout: -1, LeaseTTL: time.Millisecond}.Validate()
	assert.ElementsMatch(t, []string{"url", "on_store_error", "timeout", "lease_ttl"}, errorsOf(err))
	assert.NotContains(t, err.Error(), "hunter2")
	assert.Contains(t, StoreConfig{Type: "etcd"}.Validate().Error(), "type: want memory or redis")
	assert.NoError(t, StoreConfig{}.Validate())
}

// errorsOf lists the paths of the field errors err holds.
func errorsOf(err error) []string {
	var out []string
	for _, e := range fielderr.Unjoin(err) {
		var fe *fielderr.Error
		if errors.As(e, &fe) {
			out = append(out, fe.Path)
		}
	}
	return out
}

// A key with a concurrency limit and rates is admitted in one round trip
// (its slot and its rates in one script), and a refusal, by either, takes
// neither in Redis.
func TestRedisAdmitsSlotAndRatesInOneRoundTrip(t *testing.T) {
	m := miniredis.RunT(t)
	s, _ := openRedis(t, StoreConfig{URL: "redis://" + m.Addr()})
	ctx := context.Background()
	k := key(t, ClientKey{Name: "both", RequestsPerMinute: 120, MaxConcurrency: 1}) // burst 2 requests, 1 slot
	l, err := s.Admit(ctx, k, 1)
	require.NoError(t, err)
	l.End(0)
	trips := &countTrips{}
	s.rdb.AddHook(trips)
	l, err = s.Admit(ctx, k, 1)
	require.NoError(t, err)
	assert.Equal(t, int64(1), trips.n.Load(), "one round trip: the script")

	k.inFlight.Store(0) // a second replica's view: only Redis holds the slot
	_, err = s.Admit(ctx, k, 1)
	assert.True(t, limitError(t, err).Concurrency(), "the one slot is taken in Redis")
	assert.Equal(t, int64(1), s.rdb.ZCard(ctx, s.slotKey(k)).Val(), "the refusal leased no slot")
	k.inFlight.Store(1)
	l.End(0)
	_, err = s.Admit(ctx, k, 1)
	assert.Equal(t, "requests_per_minute", limitError(t, err).Limit, "the burst of 2 is spent")
	assert.Zero(t, s.rdb.ZCard(ctx, s.slotKey(k)).Val(), "the rate's refusal leased no slot")
	assert.Zero(t, k.inFlight.Load())
}

// countTrips counts a client's single-command round trips; pipelines,
// which only the heartbeat sends, are not counted, so that one firing
// during a test does not count.
type countTrips struct{ n atomic.Int64 }

func (c *countTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *countTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *countTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
