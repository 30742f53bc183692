package executor_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/executor"
)

// admittedWithin submits n tasks at once and counts how many start within d
// of fake time. Must run inside a synctest bubble.
func admittedWithin(t *testing.T, p *executor.Pool, n int, d time.Duration, opts ...executor.TaskOption) int {
	t.Helper()
	start := time.Now()
	var mu sync.Mutex
	count := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range n {
		require.NoError(t, p.Go(ctx, func(context.Context) error {
			if time.Since(start) <= d {
				mu.Lock()
				count++
				mu.Unlock()
			}
			return nil
		}, opts...))
	}
	time.Sleep(d)
	synctest.Wait()
	mu.Lock()
	defer mu.Unlock()
	return count
}

func TestRequestRateIsExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStarted(t, executor.Config{Limits: executor.Limits{RequestsPerSecond: 10, Burst: 1}})
		// One at t=0, then one every 100 ms: 0.0, 0.1, ..., 10.0 s.
		assert.Equal(t, 101, admittedWithin(t, p, 500, 10*time.Second))
		assert.Positive(t, p.Stats().LimiterWait)
	})
}

func TestRequestsPerMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStarted(t, executor.Config{Limits: executor.Limits{RequestsPerMinute: 120, Burst: 5}})
		// A burst of 5, then 2 per second for 10 s.
		assert.Equal(t, 25, admittedWithin(t, p, 100, 10*time.Second))
	})
}

func TestTokenRateIsExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStarted(t, executor.Config{Limits: executor.Limits{TokensPerMinute: 6000, TokenBurst: 1000}})
		// 100 tokens/s; each task costs 500: 2 from the burst, then one per 5 s.
		assert.Equal(t, 4, admittedWithin(t, p, 10, 10*time.Second, executor.Cost(500)))
	})
}

func TestCostAboveBurstIsAnError(t *testing.T) {
	p := newStarted(t, executor.Config{Limits: executor.Limits{TokensPerMinute: 600, TokenBurst: 100}})
	err := p.Go(context.Background(), func(context.Context) error { return nil }, executor.Cost(101))
	require.ErrorIs(t, err, executor.ErrCostTooHigh)
	assert.ErrorContains(t, err, "cost 101 > burst 100")
	assert.Equal(t, int64(1), p.Stats().Rejected)
}

func TestKeyedLimitsAreIndependent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kl, err := executor.NewKeyedLimiter(executor.KeyedConfig{RequestsPerSecond: 1, Burst: 1})
		require.NoError(t, err)
		kl.SetLimit("fast", 10, 1)
		p := newStarted(t, executor.Config{}, executor.WithKeyedLimiter(kl))

		start := time.Now()
		var mu sync.Mutex
		counts := map[string]int{}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for range 200 {
			for _, key := range []string{"a", "b", "fast"} {
				require.NoError(t, p.Go(ctx, func(context.Context) error {
					if time.Since(start) <= 5*time.Second {
						mu.Lock()
						counts[key]++
						mu.Unlock()
					}
					return nil
				}, executor.Key(key)))
			}
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, map[string]int{"a": 6, "b": 6, "fast": 51}, counts)
		assert.Equal(t, 3, kl.Len())
	})
}

func TestKeyedLimiterEvictsIdleAndBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kl, err := executor.NewKeyedLimiter(executor.KeyedConfig{RequestsPerSecond: 1, Burst: 1, IdleTTL: time.Minute, MaxKeys: 3})
		require.NoError(t, err)
		kl.SetLimit("pinned", 5, 5)
		p := newStarted(t, executor.Config{}, executor.WithKeyedLimiter(kl))
		run := func(key string) {
			require.NoError(t, p.Run(context.Background(), func(context.Context) error { return nil }, executor.Key(key)))
		}
		for _, k := range []string{"a", "b", "c", "d"} {
			run(k)
		}
		assert.Equal(t, 3, kl.Len(), "MaxKeys bounds the map")
		time.Sleep(2 * time.Minute)
		run("e") // a sweep on insert drops everything idle
		assert.Equal(t, 1, kl.Len())
		// An override survives eviction: "pinned" has a burst of 5.
		assert.Equal(t, 5, admittedWithin(t, p, 10, 0, executor.Key("pinned")))
	})
}

func TestKeyedConfigErrors(t *testing.T) {
	_, err := executor.NewKeyedLimiter(executor.KeyedConfig{Burst: 0, MaxKeys: -1})
	require.Error(t, err)
	for _, f := range []string{"requests_per_second:", "burst:", "max_keys:"} {
		assert.ErrorContains(t, err, f)
	}
}

func TestWaitFailsFastWhenDeadlineTooNear(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStarted(t, executor.Config{Limits: executor.Limits{RequestsPerSecond: 1, Burst: 1}})
		require.NoError(t, p.Run(context.Background(), func(context.Context) error { return nil }))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := p.Run(ctx, func(context.Context) error { return nil })
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Zero(t, time.Since(start), "no sleeping toward a deadline that comes first")
		// The refused task gave its token back: the next one waits only the 1 s refill.
		start = time.Now()
		require.NoError(t, p.Run(context.Background(), func(context.Context) error { return nil }))
		assert.Equal(t, time.Second, time.Since(start))
	})
}
