package executor_test

import (
	"bufio"
	"context"
	"errors"
	"math"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/ratelimit"
)

// observe feeds a's answers' headers, as of now.
func observe(a *executor.AdaptiveLimiter, h http.Header) {
	a.ObserveRateLimit(time.Now(), ratelimit.Parse(h, time.Now()))
}

// admittedNow counts the leases p grants without any wait, up to limit, and
// keeps them held (sent, not answered) until the test ends.
func admittedNow(t *testing.T, p *executor.Pool, limit int, opts ...executor.TaskOption) int {
	t.Helper()
	n := 0
	for ; n < limit; n++ {
		l, err := p.Acquire(context.Background(), opts...)
		if err != nil {
			require.ErrorIs(t, err, executor.ErrOverloaded)
			return n
		}
		t.Cleanup(func() { l.Release(nil) })
	}
	return n
}

// instantPool refuses anything that would wait at all, so admittedNow counts
// exactly what the limiter holds now.
func instantPool(t *testing.T, a *executor.AdaptiveLimiter) *executor.Pool {
	return newStarted(t, executor.Config{Limits: executor.Limits{MaxWait: time.Nanosecond}}, executor.WithAdaptiveLimiter(a))
}

func TestAdaptiveLearnsEachFamilyInItsMeaning(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		window  executor.WindowKind
		headers map[string]string
		size    float64 // learned bucket size
		refill  float64 // learned refill per second; 0 for fixed windows
		now     int     // admitted at once afterwards; -1: not counted
	}{
		// OpenAI: reset is the time until the bucket is full: 6 missing (5.5,
		// remaining being rounded down), refilled in 110 ms.
		{"openai requests", executor.Requests, map[string]string{
			"x-ratelimit-limit-requests": "10", "x-ratelimit-remaining-requests": "4", "x-ratelimit-reset-requests": "110ms"},
			10, 50, 3}, // 4 left, 1 kept as margin
		{"openai tokens", executor.Tokens, map[string]string{
			"x-ratelimit-limit-tokens": "6000", "x-ratelimit-remaining-tokens": "5000", "x-ratelimit-reset-tokens": "9995ms"},
			6000, 100, -1},
		// Anthropic: reset is the RFC 3339 instant the bucket is full.
		{"anthropic whole seconds", executor.Requests, map[string]string{
			"anthropic-ratelimit-requests-limit": "3000", "anthropic-ratelimit-requests-remaining": "2949",
			"anthropic-ratelimit-requests-reset": now.Add(time.Second).Format(time.RFC3339)},
			3000, 50.5, -1}, // 50.5 missing (51 less the half unit of rounding), full in 1 s
		{"anthropic fractional seconds", executor.Requests, map[string]string{
			"anthropic-ratelimit-requests-limit": "10", "anthropic-ratelimit-requests-remaining": "4",
			"anthropic-ratelimit-requests-reset": now.Add(110 * time.Millisecond).Format(time.RFC3339Nano)},
			10, 50, 3},
		// Generic and IETF fields count in fixed windows: what is left now, all back at the reset.
		{"generic fixed window", executor.Requests, map[string]string{
			"x-ratelimit-limit": "100", "x-ratelimit-remaining": "20", "x-ratelimit-reset": "2"},
			100, 0, 10}, // 20 left, 10 % kept
		{"ietf ratelimit fields", executor.Requests, map[string]string{
			"ratelimit": `"burst";r=80;t=1, "daily";r=20;t=2`, "ratelimit-policy": `"burst";q=100;w=1, "daily";q=100;w=60`},
			100, 0, 10},
		{"garbage teaches nothing", executor.Requests, map[string]string{
			"x-ratelimit-limit-requests": "lots", "x-ratelimit-reset-requests": "soon", "ratelimit": "r=;t"},
			0, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Window: tt.window})
				require.NoError(t, err)
				h := http.Header{}
				for k, v := range tt.headers {
					h.Set(k, v)
				}
				a.ObserveRateLimit(now, ratelimit.Parse(h, now))
				assert.InDelta(t, tt.size, a.Size(), 1e-9, "size")
				assert.InDelta(t, tt.refill, a.Refill(), 1e-6, "refill")
				if tt.refill > 0 {
					assert.InDelta(t, tt.refill*0.9, a.Limit(), 1e-6, "admits at Safety × refill")
				}
				if tt.now >= 0 {
					a.ObserveRateLimit(time.Now(), ratelimit.Parse(h, time.Now())) // the bubble's clock
					assert.Equal(t, tt.now, admittedNow(t, instantPool(t, a), 1000))
				}
			})
		})
	}
}

func TestAdaptiveWithoutCeilingIsBoundedOnlyByHeaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{})
		require.NoError(t, err)
		assert.True(t, math.IsInf(a.Limit(), 1))
		p := instantPool(t, a)
		assert.Equal(t, 500, admittedNow(t, p, 500), "nothing learned: nothing held back")
	})
}

func TestAdaptiveUsesTheCeilingUntilHeadersArrive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Rate: 10, Burst: 3})
		require.NoError(t, err)
		assert.Equal(t, 3, admittedNow(t, instantPool(t, a), 100))
	})
}

// fullBucket is an adaptive limiter that has just seen a full bucket of
// 10, and a pool that refuses anything it cannot admit at once.
func fullBucket(t *testing.T) (*executor.AdaptiveLimiter, *executor.Pool, http.Header) {
	a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{})
	require.NoError(t, err)
	full := http.Header{"X-Ratelimit-Limit-Requests": {"10"}, "X-Ratelimit-Remaining-Requests": {"10"}}
	observe(a, full)
	return a, instantPool(t, a), full
}

func TestAdaptiveCountsUnansweredRequestsAgainstRemaining(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, p, full := fullBucket(t)
		assert.Equal(t, 5, admittedNow(t, p, 5), "5 sent, no answer yet")
		// An answer to someone else's request says the bucket is still full:
		// the 5 in flight are not counted by the provider yet.
		observe(a, full)
		assert.Equal(t, 4, admittedNow(t, p, 100), "10 − 1 margin − 5 in flight")
	})
}

func TestAdaptiveLeaseObserveSettlesItsRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, p, _ := fullBucket(t)
		l, err := p.Acquire(context.Background())
		require.NoError(t, err)
		rl := ratelimit.Parse(http.Header{"X-Ratelimit-Limit-Requests": {"10"}, "X-Ratelimit-Remaining-Requests": {"9"}}, time.Now())
		l.Observe(&rl, -1) // the provider counted it: 9 left, nothing in flight
		l.Release(nil)
		assert.Equal(t, 8, admittedNow(t, p, 100))
	})
}

func TestAdaptiveResumesAtTheLearnedRateAfterA429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The ceiling is 20 times what the provider allows.
		a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Rate: 1000, Burst: 100})
		require.NoError(t, err)
		p := newStarted(t, executor.Config{}, executor.WithAdaptiveLimiter(a))
		start := time.Now()
		observe(a, http.Header{ // a 429: empty, full again in 190 ms (9.5 missing: 50/s), retry in 100 ms
			"X-Ratelimit-Limit-Requests": {"10"}, "X-Ratelimit-Remaining-Requests": {"0"},
			"X-Ratelimit-Reset-Requests": {"190ms"}, "Retry-After-Ms": {"100"},
		})
		var at []time.Duration
		for range 4 {
			require.NoError(t, p.Run(context.Background(), func(context.Context) error { return nil }))
			at = append(at, time.Since(start))
		}
		assert.GreaterOrEqual(t, at[0], 100*time.Millisecond, "nothing before the hint")
		step := time.Second / 45 // 50/s × 0.9
		for i := 1; i < len(at); i++ {
			assert.InDelta(t, float64(step), float64(at[i]-at[i-1]), float64(time.Millisecond), "spaced at the learned rate, not the ceiling")
		}
	})
}

func TestAdaptivePauseMovesQueuedTasksBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Rate: 1, Burst: 1})
		require.NoError(t, err)
		p := newStarted(t, executor.Config{}, executor.WithAdaptiveLimiter(a))
		require.NoError(t, p.Run(context.Background(), func(context.Context) error { return nil })) // spends the burst
		start := time.Now()
		done := make(chan time.Duration, 1)
		require.NoError(t, p.Go(context.Background(), func(context.Context) error { done <- time.Since(start); return nil }))
		// The task holds a reservation due at 1 s; a 5 s pause that arrives
		// later moves it back by 5 s: nothing accrues during a pause.
		observe(a, http.Header{"Retry-After": {"5"}})
		assert.Equal(t, 6*time.Second, <-done)
	})
}

func TestAdaptiveTokenWindowCorrectsWithUsage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, settle := range []bool{false, true} {
			a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Window: executor.Tokens, Rate: 100, Burst: 1000})
			require.NoError(t, err)
			p := instantPool(t, a)
			l, err := p.Acquire(context.Background(), executor.Cost(800))
			require.NoError(t, err)
			if settle {
				l.Observe(nil, 100) // estimated 800, used 100: 700 come back
			}
			l.Release(nil)
			l, err = p.Acquire(context.Background(), executor.Cost(900))
			if settle {
				require.NoError(t, err)
				l.Release(nil)
			} else {
				assert.ErrorIs(t, err, executor.ErrOverloaded, "without the usage, only 200 are left")
			}
		}
	})
}

func TestAdaptiveFixedWindowRefillsAtReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{})
		require.NoError(t, err)
		observe(a, http.Header{"X-Ratelimit-Limit": {"20"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"3"}})
		p := newStarted(t, executor.Config{}, executor.WithAdaptiveLimiter(a))
		start := time.Now()
		for range 18 { // 20 − 2 margin per window
			l, err := p.Acquire(context.Background())
			require.NoError(t, err)
			l.Release(nil)
		}
		assert.Equal(t, 3*time.Second, time.Since(start), "the window came back whole at its reset")
	})
}

func TestAdaptiveConfigErrors(t *testing.T) {
	_, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Window: 7, Rate: -1, Burst: -1, Safety: 2})
	require.Error(t, err)
	for _, f := range []string{"window:", "rate:", "burst:", "safety:"} {
		assert.ErrorContains(t, err, f)
	}
	_, err = executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Rate: 5})
	assert.ErrorContains(t, err, "burst: must be >= 1 with a rate")
}

func TestMaxWaitRefusesAtOnceAndReturnsTheTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStarted(t, executor.Config{Name: "up", Limits: executor.Limits{RequestsPerSecond: 1, Burst: 1, MaxWait: 2500 * time.Millisecond}})
		for range 3 { // due at 0, 1 s and 2 s: within 90 % of max_wait
			require.NoError(t, p.Go(context.Background(), func(context.Context) error { return nil }))
		}
		start := time.Now()
		for range 2 {
			err := p.Run(context.Background(), func(context.Context) error { return nil })
			var oe *executor.OverloadError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, "up", oe.Pool)
			assert.Equal(t, "rate limit", oe.Reason)
			assert.Equal(t, 3*time.Second, oe.RetryAfter, "the refused token was given back: the next one is refused with the same forecast")
		}
		assert.Zero(t, time.Since(start), "refused when it reserved, not after waiting")
		assert.Equal(t, int64(2), p.Stats().Rejected)
	})
}

func TestMaxWaitBoundsTheWaitForASlotAndForQueueSpace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, l := range []executor.Limits{
			{MaxConcurrency: 1, QueueSize: 4, MaxWait: time.Second},
			{MaxConcurrency: 1, BlockWhenFull: true, MaxWait: time.Second},
		} {
			p := newStarted(t, executor.Config{Limits: l})
			held, err := p.Acquire(context.Background())
			require.NoError(t, err)
			start := time.Now()
			_, err = p.Acquire(context.Background())
			var oe *executor.OverloadError
			require.True(t, errors.As(err, &oe), "got %v", err)
			assert.Equal(t, time.Second, time.Since(start), "told at max_wait, not later")
			assert.Equal(t, time.Second, oe.RetryAfter)
			held.Release(nil)
			l, err := p.Acquire(context.Background())
			require.NoError(t, err, "the refused one left nothing behind")
			l.Release(nil)
		}
	})
}

func TestMaxWaitRefusesATaskAPauseWouldHoldTooLong(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Rate: 1, Burst: 1})
		require.NoError(t, err)
		p := newStarted(t, executor.Config{Limits: executor.Limits{MaxWait: 3 * time.Second}}, executor.WithAdaptiveLimiter(a))
		require.NoError(t, p.Run(context.Background(), func(context.Context) error { return nil }))
		start := time.Now()
		errc := make(chan error, 1)
		go func() { errc <- p.Run(context.Background(), func(context.Context) error { return nil }) }()
		synctest.Wait() // queued, due at 1 s
		observe(a, http.Header{"Retry-After": {"10"}})
		assert.ErrorIs(t, <-errc, executor.ErrOverloaded)
		assert.LessOrEqual(t, time.Since(start), 3*time.Second)
	})
}

// FuzzAdaptiveObserve feeds two raw header blocks to a limiter (seeds in
// testdata/fuzz/FuzzAdaptiveObserve): whatever they say, what it learns
// stays a number, and admission afterwards either succeeds or is refused
// with the typed error, never hangs past max_wait.
func FuzzAdaptiveObserve(f *testing.F) {
	f.Add("x-ratelimit-limit-requests: 10\r\nx-ratelimit-remaining-requests: 0\r\nx-ratelimit-reset-requests: 190ms\r\n",
		"retry-after-ms: 100\r\n")
	f.Add("ratelimit: \"a\";r=0;t=3\r\nratelimit-policy: \"a\";q=5;w=3\r\n", "x-ratelimit-remaining: 99999999999\r\n")
	f.Fuzz(func(t *testing.T, first, second string) {
		synctest.Test(t, func(t *testing.T) {
			a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{})
			require.NoError(t, err)
			for _, raw := range []string{first, second} {
				r := textproto.NewReader(bufio.NewReader(strings.NewReader(raw + "\r\n\r\n")))
				mh, _ := r.ReadMIMEHeader()
				observe(a, http.Header(mh))
			}
			for _, v := range []float64{a.Limit(), a.Size(), a.Refill()} {
				if math.IsNaN(v) || v < 0 {
					t.Fatalf("learned %v", v)
				}
			}
			p, err := executor.New(executor.Config{Limits: executor.Limits{MaxWait: time.Second}}, executor.WithAdaptiveLimiter(a))
			require.NoError(t, err)
			require.NoError(t, p.Start(context.Background()))
			start := time.Now()
			l, err := p.Acquire(context.Background())
			if err == nil {
				l.Release(nil)
			} else if !errors.Is(err, executor.ErrOverloaded) {
				t.Fatalf("admission: %v", err)
			}
			if time.Since(start) > time.Second {
				t.Fatalf("waited %v", time.Since(start))
			}
			require.NoError(t, p.Stop(context.Background()))
		})
	})
}

func TestAdaptiveShareClaimsAPartOfTheBucket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Window: executor.Requests})
		require.NoError(t, err)
		a.SetShare(1.0 / 3)
		h := http.Header{}
		h.Set("x-ratelimit-limit", "100")
		h.Set("x-ratelimit-remaining", "91")
		h.Set("x-ratelimit-reset", "2")
		a.ObserveRateLimit(time.Now(), ratelimit.Parse(h, time.Now()))
		// 91 left less the 10 % margin is 81: a third of it is 27.
		assert.Equal(t, 27, admittedNow(t, instantPool(t, a), 1000))

		b, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{Window: executor.Requests, Rate: 30, Burst: 30})
		require.NoError(t, err)
		b.SetShare(0.5)
		assert.InDelta(t, 15, b.Limit(), 1e-9, "the ceiling's rate is shared too, before anything is learned")
		b.SetShare(7) // out of range: all of it
		assert.InDelta(t, 30, b.Limit(), 1e-9)
	})
}

// A Pool configured with Limits.Adaptive builds its own limiters (the ones
// an endpoint builds with Limits.AdaptiveLimiters): it learns from what the
// leases observe, and the configured rate is a ceiling it does not pass.
func TestAdaptiveLimitsLearnFromLeases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStarted(t, executor.Config{Name: "learns", Limits: executor.Limits{
			Adaptive: true, RequestsPerSecond: 100, Burst: 100, MaxWait: time.Second,
		}})
		l, err := p.Acquire(context.Background())
		require.NoError(t, err)
		rl := ratelimit.Parse(http.Header{
			"X-Ratelimit-Limit-Requests":     {"10"},
			"X-Ratelimit-Remaining-Requests": {"0"},
			"X-Ratelimit-Reset-Requests":     {"5s"},
		}, time.Now())
		l.Observe(&rl, -1)
		l.Release(nil)
		_, err = p.Acquire(context.Background())
		var oe *executor.OverloadError
		require.ErrorAs(t, err, &oe, "the provider's empty bucket, learned from the lease, refuses what max_wait cannot cover")
		assert.Greater(t, oe.RetryAfter, 400*time.Millisecond)
	})
	synctest.Test(t, func(t *testing.T) {
		p := newStarted(t, executor.Config{Limits: executor.Limits{Adaptive: true, RequestsPerSecond: 1, Burst: 1, MaxWait: 100 * time.Millisecond}})
		l, err := p.Acquire(context.Background())
		require.NoError(t, err)
		l.Release(nil)
		_, err = p.Acquire(context.Background())
		assert.ErrorIs(t, err, executor.ErrOverloaded, "the configured rate is the ceiling before anything is learned")
	})
}
