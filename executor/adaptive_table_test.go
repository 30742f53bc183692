package executor_test

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/executor"
)

// simProvider is a provider's token bucket (OpenAI's kind: reset is the
// time until full), answering each request with its headers, 429 with
// Retry-After when empty.
type simProvider struct {
	mu            sync.Mutex
	limit, refill float64
	level         float64
	last          time.Time
	served, over  int
}

func (p *simProvider) take(now time.Time) executor.RateLimit {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.level = math.Min(p.limit, p.level+p.refill*now.Sub(p.last).Seconds())
	p.last = now
	rl := executor.UnknownRateLimit()
	if p.level >= 1 {
		p.level--
		p.served++
	} else {
		p.over++
		rl.RetryAfter = time.Duration((1 - p.level) / p.refill * float64(time.Second))
	}
	rl.Requests = executor.Window{Limit: int64(p.limit), Remaining: int64(math.Floor(p.level)),
		Reset: time.Duration((p.limit - p.level) / p.refill * float64(time.Second))}
	return rl
}

// adaptiveRun offers load × a provider bucket of 50/s (burst 10), open
// loop, calls requests through a pool whose adaptive limiter learns the
// bucket from the answers (20 ms each way, plus up to jitter, drawn anew
// for each leg), with maxWait; it returns the share of upstream requests
// answered 429, the longest admission wait of a request sent, and the
// requests served as a share of what the provider allowed over the run.
func adaptiveRun(t *testing.T, load float64, maxWait time.Duration, calls int, jitter time.Duration) (over float64, longest time.Duration, served float64) {
	synctest.Test(t, func(t *testing.T) {
		p := &simProvider{limit: 10, refill: 50, level: 10, last: time.Now()}
		a, err := executor.NewAdaptiveLimiter(executor.AdaptiveConfig{})
		require.NoError(t, err)
		pool, err := executor.New(executor.Config{Name: "sim", Limits: executor.Limits{MaxWait: maxWait}}, executor.WithAdaptiveLimiter(a))
		require.NoError(t, err)
		require.NoError(t, pool.Start(context.Background()))
		var mu sync.Mutex
		rnd := rand.New(rand.NewPCG(uint64(calls), uint64(maxWait)))
		leg := func() time.Duration {
			mu.Lock()
			defer mu.Unlock()
			return 20*time.Millisecond + time.Duration(rnd.Int64N(int64(jitter)+1))
		}
		start := time.Now()
		var wg sync.WaitGroup
		gap := time.Duration(float64(time.Second) / (p.refill * load))
		for range calls {
			began := time.Now()
			wg.Go(func() {
				l, err := pool.Acquire(context.Background())
				if err != nil {
					assert.ErrorIs(t, err, executor.ErrOverloaded, "the only refusal is shedding")
					return
				}
				waited := time.Since(began)
				time.Sleep(leg())
				rl := p.take(time.Now())
				time.Sleep(leg())
				l.Observe(&rl, -1)
				l.Release(nil)
				mu.Lock()
				longest = max(longest, waited)
				mu.Unlock()
			})
			time.Sleep(gap)
		}
		wg.Wait()
		require.NoError(t, pool.Stop(context.Background()))
		over = float64(p.over) / float64(p.over+p.served)
		allowed := math.Min(float64(calls), p.limit+p.refill*time.Since(start).Seconds())
		served = float64(p.served) / allowed
	})
	return over, longest, served
}

// The adaptive limiter holds a provider's bucket offered more than it
// allows, open loop: at most 1 % of upstream requests answered 429, no
// request sent after waiting past max_wait, and at least 90 % of what the
// provider allowed served. With fixed latencies it holds at 2× with
// max_wait 1, 3 and 10 s (30 s and unbounded too, but they take longer than
// a test may) and at 5× with 1 s; with latencies that vary (up to 10 ms
// more on each leg) only at 1 s. Not yet (the hostile-upstreams issue's
// open part): 5× with longer waits at fixed latencies (0-47 % of 429s;
// 3.6 % and 70 % served at 3 s in one run), and any wait of 3 s or more
// with varying latencies (2×: 4.6 % of 429s at 3 s; 4.9 % and 33 % served
// at 10 s), as in real time (bench/README.md). Those rows join the table
// once they hold.
func TestAdaptiveHoldsTheBucketOpenLoop(t *testing.T) {
	for _, row := range []struct {
		load    float64
		maxWait time.Duration
		jitter  time.Duration
	}{
		{2, time.Second, 0}, {2, 3 * time.Second, 0}, {2, 10 * time.Second, 0}, {5, time.Second, 0},
		// Latencies that vary, as real ones do: the rows that hold.
		{2, time.Second, 10 * time.Millisecond}, {5, time.Second, 10 * time.Millisecond},
	} {
		over, longest, served := adaptiveRun(t, row.load, row.maxWait, 2000, row.jitter)
		assert.LessOrEqual(t, over, 0.01, "load %v×, max_wait %v, jitter %v: share of 429s", row.load, row.maxWait, row.jitter)
		assert.LessOrEqual(t, longest, row.maxWait, "load %v×, max_wait %v, jitter %v: no request sent after waiting past it", row.load, row.maxWait, row.jitter)
		assert.GreaterOrEqual(t, served, 0.9, "load %v×, max_wait %v, jitter %v: share of what the provider allowed served", row.load, row.maxWait, row.jitter)
	}
}
