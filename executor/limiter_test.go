package executor_test

import (
	"context"
	"net/http"
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
		p := newStarted(t, executor.Config{RequestsPerSecond: 10, Burst: 1})
		// One at t=0, then one every 100 ms: 0.0, 0.1, ..., 10.0 s.
		assert.Equal(t, 101, admittedWithin(t, p, 500, 10*time.Second))
		assert.Positive(t, p.Stats().LimiterWait)
	})
}

func TestRequestsPerMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStarted(t, executor.Config{RequestsPerMinute: 120, Burst: 5})
		// A burst of 5, then 2 per second for 10 s.
		assert.Equal(t, 25, admittedWithin(t, p, 100, 10*time.Second))
	})
}

func TestTokenRateIsExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStarted(t, executor.Config{TokensPerMinute: 6000, TokenBurst: 1000})
		// 100 tokens/s; each task costs 500: 2 from the burst, then one per 5 s.
		assert.Equal(t, 4, admittedWithin(t, p, 10, 10*time.Second, executor.Cost(500)))
	})
}

func TestCostAboveBurstIsAnError(t *testing.T) {
	p := newStarted(t, executor.Config{TokensPerMinute: 600, TokenBurst: 100})
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

func TestAdaptiveLimiterFollowsHeaders(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		window  executor.WindowKind
		headers map[string]string
		want    float64 // rate after one observation, from a start of 100/s
		paused  time.Duration
	}{
		{"openai requests lowered", executor.Requests,
			map[string]string{"x-ratelimit-remaining-requests": "50", "x-ratelimit-reset-requests": "10s"}, 4.5, 0},
		{"openai tokens lowered", executor.Tokens,
			map[string]string{"x-ratelimit-remaining-tokens": "200", "x-ratelimit-reset-tokens": "4s"}, 45, 0},
		{"anthropic requests lowered", executor.Requests,
			map[string]string{"anthropic-ratelimit-requests-remaining": "30", "anthropic-ratelimit-requests-reset": now.Add(10 * time.Second).Format(time.RFC3339)}, 2.7, 0},
		{"generic delta seconds", executor.Requests,
			map[string]string{"ratelimit-remaining": "20", "ratelimit-reset": "2"}, 9, 0},
		{"generic epoch seconds", executor.Requests,
			map[string]string{"x-ratelimit-remaining": "20", "x-ratelimit-reset": "1795694404"}, 4.5, 0},
		{"never below min", executor.Requests,
			map[string]string{"x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "1h"}, 1, 0},
		{"room leaves the rate alone at its ceiling", executor.Requests,
			map[string]string{"x-ratelimit-remaining-requests": "100000", "x-ratelimit-reset-requests": "1s"}, 100, 0},
		{"exhausted pauses until reset", executor.Requests,
			map[string]string{"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}, 100, 6 * time.Minute},
		{"retry-after pauses", executor.Requests,
			map[string]string{"retry-after": "2"}, 100, 2 * time.Second},
		{"retry-after-ms pauses", executor.Requests,
			map[string]string{"retry-after-ms": "1500"}, 100, 1500 * time.Millisecond},
		{"other window ignored", executor.Requests,
			map[string]string{"x-ratelimit-remaining-tokens": "1", "x-ratelimit-reset-tokens": "1m"}, 100, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Window: tt.window, Rate: 100, Burst: 10, Min: 1})
			require.NoError(t, err)
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			a.ObserveAt(now, h)
			assert.InDelta(t, tt.want, a.Limit(), 1e-9)
			if tt.paused > 0 {
				assert.Equal(t, now.Add(tt.paused), a.PausedUntil())
			} else {
				assert.True(t, a.PausedUntil().IsZero())
			}
		})
	}
}

func TestAdaptiveRestartsAtTheWindowsRateAfterExhaustion(t *testing.T) {
	now := time.Now()
	a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Rate: 1000, Burst: 1, Min: 1, Safety: 1})
	require.NoError(t, err)
	a.ObserveAt(now, http.Header{"X-Ratelimit-Remaining-Requests": {"1"}, "X-Ratelimit-Reset-Requests": {"1s"}})
	assert.InDelta(t, 1, a.Limit(), 1e-9, "one left for a second: the rule drops to 1/s")
	a.ObserveAt(now, http.Header{"X-Ratelimit-Limit-Requests": {"200"}, "X-Ratelimit-Remaining-Requests": {"0"}, "X-Ratelimit-Reset-Requests": {"500ms"}})
	assert.Equal(t, now.Add(500*time.Millisecond), a.PausedUntil())
	assert.InDelta(t, 400, a.Limit(), 1e-9, "after the pause the window holds 200 again: 200 per 0.5 s")
}

func TestAdaptiveLimiterClimbsBack(t *testing.T) {
	now := time.Now()
	a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Rate: 100, Burst: 1, Min: 1, Safety: 1})
	require.NoError(t, err)
	obs := func(remaining string) {
		a.ObserveAt(now, http.Header{"X-Ratelimit-Remaining-Requests": {remaining}, "X-Ratelimit-Reset-Requests": {"1s"}})
	}
	obs("10")
	assert.InDelta(t, 10, a.Limit(), 1e-9)
	obs("1000") // room: halve the gap to the ceiling
	assert.InDelta(t, 55, a.Limit(), 1e-9)
	obs("1000")
	assert.InDelta(t, 77.5, a.Limit(), 1e-9)
	for range 10 {
		obs("1000")
	}
	assert.InDelta(t, 100, a.Limit(), 1e-9, "reaches the ceiling, never above")
	obs("60") // a lower allowance applies at once
	assert.InDelta(t, 60, a.Limit(), 1e-9)
}

func TestAdaptiveRetryAfterBlocksAdmission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Rate: 1000, Burst: 100})
		require.NoError(t, err)
		p := newStarted(t, executor.Config{}, executor.WithAdaptiveLimiter(a))
		a.Observe(http.Header{"Retry-After": {"2"}}) // as on a 429
		start := time.Now()
		require.NoError(t, p.Run(context.Background(), func(context.Context) error { return nil }))
		assert.Equal(t, 2*time.Second, time.Since(start))
		// After the pause, admission is immediate again.
		start = time.Now()
		require.NoError(t, p.Run(context.Background(), func(context.Context) error { return nil }))
		assert.Zero(t, time.Since(start))
	})
}

func TestAdaptivePauseReachesQueuedTasks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Rate: 1, Burst: 1})
		require.NoError(t, err)
		p := newStarted(t, executor.Config{}, executor.WithAdaptiveLimiter(a))
		require.NoError(t, p.Run(context.Background(), func(context.Context) error { return nil })) // spends the burst
		start := time.Now()
		done := make(chan time.Duration, 1)
		require.NoError(t, p.Go(context.Background(), func(context.Context) error { done <- time.Since(start); return nil }))
		// The task holds a reservation due at 1 s; a pause that arrives later still holds it.
		a.Observe(http.Header{"Retry-After": {"5"}})
		assert.Equal(t, 5*time.Second, <-done)
	})
}

func TestAdaptiveConfigErrors(t *testing.T) {
	_, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Window: 7, Rate: 0, Burst: 0, Safety: 2})
	require.Error(t, err)
	for _, f := range []string{"window:", "rate:", "burst:", "min:", "safety:"} {
		assert.ErrorContains(t, err, f)
	}
}

func TestWaitFailsFastWhenDeadlineTooNear(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStarted(t, executor.Config{RequestsPerSecond: 1, Burst: 1})
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
