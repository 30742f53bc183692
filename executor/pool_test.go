package executor_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"go.yaml.in/yaml/v3"

	"github.com/khive-go/khive/executor"
)

func newStarted(t *testing.T, cfg executor.Config, opts ...executor.Option) *executor.Pool {
	t.Helper()
	p, err := executor.New(cfg, opts...)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	return p
}

func TestConfigValidateNamesEveryField(t *testing.T) {
	err := executor.Config{Limits: executor.Limits{MaxConcurrency: -1, QueueSize: -2, RequestsPerSecond: 5, Burst: 0, TokensPerMinute: -1, TokenBurst: -1}}.Validate()
	require.Error(t, err)
	for _, field := range []string{"max_concurrency", "queue_size", "burst", "tokens_per_minute", "token_burst"} {
		assert.Contains(t, err.Error(), field+":")
	}
	err = executor.Config{Limits: executor.Limits{RequestsPerSecond: 1, RequestsPerMinute: 60, Burst: 1}}.Validate()
	assert.ErrorContains(t, err, "requests_per_minute: set only one")
	err = executor.Config{Limits: executor.Limits{QueueSize: 3}}.Validate()
	assert.ErrorContains(t, err, "queue_size: needs max_concurrency > 0")
	assert.NoError(t, executor.Config{}.Validate())

	_, err = executor.New(executor.Config{Name: "p", Limits: executor.Limits{Burst: -1}})
	assert.ErrorContains(t, err, `executor "p": burst: must be >= 0`)
}

func TestConcurrencyBoundNeverExceeded(t *testing.T) {
	const limit, tasks = 8, 10_000
	p := newStarted(t, executor.Config{Limits: executor.Limits{MaxConcurrency: limit, QueueSize: 64, BlockWhenFull: true}})
	var cur, peak atomic.Int64
	var wg sync.WaitGroup
	wg.Add(tasks)
	for range tasks {
		require.NoError(t, p.Go(context.Background(), func(context.Context) error {
			defer wg.Done()
			n := cur.Add(1)
			for {
				old := peak.Load()
				if n <= old || peak.CompareAndSwap(old, n) {
					break
				}
			}
			cur.Add(-1)
			return nil
		}))
	}
	wg.Wait()
	assert.LessOrEqual(t, peak.Load(), int64(limit))
	assert.Positive(t, peak.Load())
	require.NoError(t, p.Stop(context.Background()))
	s := p.Stats()
	assert.Equal(t, int64(tasks), s.Submitted)
	assert.Equal(t, int64(tasks), s.Completed)
}

func TestEveryTaskAccountedForAfterStopUnderLoad(t *testing.T) {
	p, err := executor.New(executor.Config{Limits: executor.Limits{MaxConcurrency: 4, QueueSize: 16}})
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))

	var accepted, refused, ran atomic.Int64
	loaded := make(chan struct{})
	var wg sync.WaitGroup
	stopSubmitting := make(chan struct{})
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopSubmitting:
					return
				default:
				}
				err := p.Go(context.Background(), func(ctx context.Context) error {
					if ran.Add(1) == 200 {
						close(loaded)
					}
					select {
					case <-time.After(time.Duration(i%3) * time.Millisecond):
						if (g+i)%5 == 0 {
							return errors.New("boom")
						}
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
				if err != nil {
					refused.Add(1)
					if errors.Is(err, executor.ErrClosed) {
						return
					}
					continue
				}
				accepted.Add(1)
			}
		}()
	}
	<-loaded // stop in the middle of the load
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
	defer cancel()
	stopErr := p.Stop(ctx) // may or may not hit the deadline; every task must be accounted for either way
	close(stopSubmitting)
	wg.Wait()

	// A 2 ms deadline is shorter than the stop plan's reserve: tasks still
	// ending their cancellation when it runs out are abandoned, and Stop
	// says how many; they honour their ctx, so they end and are counted.
	var se *executor.StopError
	if errors.As(stopErr, &se) && se.Abandoned > 0 {
		require.Eventually(t, func() bool { s := p.Stats(); return s.Running == 0 && s.Queued == 0 },
			2*time.Second, time.Millisecond, "abandoned tasks end once cancelled")
	}
	s := p.Stats()
	assert.Equal(t, s.Submitted, s.Completed+s.Failed+s.Cancelled+s.Rejected, "%+v", s)
	assert.Equal(t, accepted.Load(), s.Completed+s.Failed+s.Cancelled)
	assert.Equal(t, refused.Load(), s.Rejected)
	assert.Zero(t, s.Running)
	assert.Zero(t, s.Queued)
	assert.Positive(t, s.Completed)
}

func TestQueueFullFailsAtOnce(t *testing.T) {
	p := newStarted(t, executor.Config{Limits: executor.Limits{MaxConcurrency: 1, QueueSize: 1}})
	release := make(chan struct{})
	block := func(context.Context) error { <-release; return nil }
	require.NoError(t, p.Go(context.Background(), block)) // runs
	require.NoError(t, p.Go(context.Background(), block)) // queued
	err := p.Go(context.Background(), block)
	assert.ErrorIs(t, err, executor.ErrQueueFull)
	err = p.Run(context.Background(), block)
	assert.ErrorIs(t, err, executor.ErrQueueFull)
	close(release)
	require.NoError(t, p.Stop(context.Background()))
	s := p.Stats()
	assert.Equal(t, int64(2), s.Rejected)
	assert.Equal(t, int64(2), s.Completed)
}

func TestQueueFullBlocksHonouringContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStarted(t, executor.Config{Limits: executor.Limits{MaxConcurrency: 1, BlockWhenFull: true}})
		release := make(chan struct{})
		require.NoError(t, p.Go(context.Background(), func(context.Context) error { <-release; return nil }))

		// A blocked submitter gives up with its ctx.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		err := p.Go(ctx, func(context.Context) error { return nil })
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, time.Second, time.Since(start))

		// A blocked submitter goes through once the slot frees.
		done := make(chan error, 1)
		go func() { done <- p.Run(context.Background(), func(context.Context) error { return nil }) }()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("Run returned while the pool was full")
		default:
		}
		close(release)
		assert.NoError(t, <-done)
	})
}

func TestBlockedSubmitterUnblocksOnStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStarted(t, executor.Config{Limits: executor.Limits{MaxConcurrency: 1, BlockWhenFull: true}})
		release := make(chan struct{})
		require.NoError(t, p.Go(context.Background(), func(context.Context) error { <-release; return nil }))

		// Submitters blocked on every path: a ctx that cannot end waits on
		// a plain receive, one that can waits in a select.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ran := make(chan struct{}, 8)
		task := func(context.Context) error { ran <- struct{}{}; return nil }
		got := make(chan error, 8)
		for _, c := range []context.Context{context.Background(), ctx, context.Background(), ctx} {
			go func() { got <- p.Go(c, task) }()
			go func() { got <- p.Run(c, task) }()
		}
		synctest.Wait()
		stopped := make(chan error, 1)
		go func() { stopped <- p.Stop(context.Background()) }()
		for range 8 { // while the first task still holds the only slot
			assert.ErrorIs(t, <-got, executor.ErrClosed)
		}
		close(release)
		assert.NoError(t, <-stopped)
		assert.Empty(t, ran, "no blocked submission ran after Stop began")
		s := p.Stats()
		assert.Equal(t, int64(8), s.Rejected)
		assert.Equal(t, int64(1), s.Completed)
	})
}

func TestLifecycle(t *testing.T) {
	p, err := executor.New(executor.Config{})
	require.NoError(t, err)
	assert.ErrorIs(t, p.Go(context.Background(), func(context.Context) error { return nil }), executor.ErrNotStarted)
	require.NoError(t, p.Start(context.Background()))
	require.NoError(t, p.Start(context.Background()), "Start is idempotent")
	require.NoError(t, p.Run(context.Background(), func(context.Context) error { return nil }))

	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); assert.NoError(t, p.Stop(context.Background())) }()
	}
	wg.Wait()
	assert.ErrorIs(t, p.Start(context.Background()), executor.ErrClosed)
	assert.ErrorIs(t, p.Go(context.Background(), func(context.Context) error { return nil }), executor.ErrClosed)
	assert.ErrorIs(t, p.Run(context.Background(), func(context.Context) error { return nil }), executor.ErrClosed)

	never, err := executor.New(executor.Config{})
	require.NoError(t, err)
	assert.NoError(t, never.Stop(context.Background()), "Stop without Start is a no-op")
	assert.ErrorIs(t, never.Start(context.Background()), executor.ErrClosed)
}

func TestTaskContextFollowsCaller(t *testing.T) {
	p := newStarted(t, executor.Config{})
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- p.Run(ctx, func(ctx context.Context) error {
			assert.Equal(t, "v", ctx.Value(key{}))
			close(started)
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	<-started
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	require.NoError(t, p.Stop(context.Background()))
	assert.Equal(t, int64(1), p.Stats().Cancelled)
}

func TestPanicBecomesPanicError(t *testing.T) {
	p := newStarted(t, executor.Config{Limits: executor.Limits{MaxConcurrency: 2}})
	err := p.Run(context.Background(), func(context.Context) error { panic("kaboom") })
	var pe *executor.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "kaboom", pe.Value)
	assert.Contains(t, string(pe.Stack), "pool_test.go")

	sentinel := errors.New("inner")
	err = p.Run(context.Background(), func(context.Context) error { panic(sentinel) })
	assert.ErrorIs(t, err, sentinel, "a panicked error unwraps")

	assert.NoError(t, p.Run(context.Background(), func(context.Context) error { return nil }), "the pool keeps working")
	s := p.Stats()
	assert.Equal(t, int64(2), s.Panicked)
	assert.Equal(t, int64(2), s.Failed)
	assert.Equal(t, int64(1), s.Completed)
}

func TestStopWithDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zap.DebugLevel)
		p := newStarted(t, executor.Config{Name: "work", Limits: executor.Limits{MaxConcurrency: 2, QueueSize: 4}}, executor.WithLogger(zap.New(core)))

		var finished, sawCancel atomic.Int64
		quick := func(ctx context.Context) error {
			time.Sleep(500 * time.Millisecond)
			finished.Add(1)
			return nil
		}
		slow := func(ctx context.Context) error {
			select {
			case <-time.After(time.Hour):
				return nil
			case <-ctx.Done():
				sawCancel.Add(1)
				return ctx.Err()
			}
		}
		quickErr := make(chan error, 1)
		go func() { quickErr <- p.Run(context.Background(), quick) }()
		require.NoError(t, p.Go(context.Background(), slow))
		synctest.Wait()
		require.NoError(t, p.Go(context.Background(), slow)) // queued behind the two running
		require.NoError(t, p.Go(context.Background(), slow)) // queued

		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		err := p.Stop(ctx)
		assert.Equal(t, 1500*time.Millisecond, time.Since(start),
			"Stop drains until the deadline less its reserve (a quarter of 2 s), cancels, and returns once the tasks have")
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorContains(t, err, "3 tasks in flight, 3 cancelled")
		assert.NoError(t, <-quickErr, "a task that finished before the deadline succeeds")
		assert.Equal(t, int64(1), finished.Load())
		assert.Equal(t, int64(2), sawCancel.Load(), "the queued slow task started after quick and saw its ctx cancelled")

		s := p.Stats()
		assert.Equal(t, int64(3), s.Cancelled)
		assert.Equal(t, s.Submitted, s.Completed+s.Failed+s.Cancelled+s.Rejected)

		entries := logs.FilterMessage("executor stop cancelled tasks").All()
		require.Len(t, entries, 1)
		f := entries[0].ContextMap()
		assert.Equal(t, "executor", f["component"])
		assert.Equal(t, "work", f["name"])
		assert.Equal(t, int64(3), f["in_flight"])
		assert.Equal(t, int64(3), f["cancelled"])
		assert.Contains(t, f["error"], "deadline exceeded")
		assert.Equal(t, 1, logs.FilterMessage("executor started").Len())
		assert.Equal(t, 1, logs.FilterMessage("executor stopped").Len())
		assert.Zero(t, logs.FilterLevelExact(zap.InfoLevel).Len(), "nothing at Info")
	})
}

func TestStopAbandonsATaskThatIgnoresItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStarted(t, executor.Config{Name: "stubborn"})
		release := make(chan struct{})
		returned := make(chan struct{})
		require.NoError(t, p.Go(context.Background(), func(context.Context) error { <-release; return nil },
			executor.OnDone(func(error) { close(returned) })))
		require.NoError(t, p.Go(context.Background(), func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		err := p.Stop(ctx)
		// A reserve of 250 ms: drain until 750 ms, wait for the cancelled
		// tasks until 937.5 ms, then give up on the one ignoring its ctx.
		assert.Equal(t, 937500*time.Microsecond, time.Since(start), "bounded by the deadline, not by the task")
		var se *executor.StopError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, executor.StopError{Pool: "stubborn", InFlight: 2, Cancelled: 1, Abandoned: 1}, *se)
		assert.ErrorContains(t, err, "1 tasks ignored their cancelled ctx and were abandoned")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorIs(t, p.Go(context.Background(), func(context.Context) error { return nil }), executor.ErrClosed)

		close(release) // the abandoned task ends on its own time, and is counted
		<-returned
		synctest.Wait()
		assert.Equal(t, int64(1), p.Stats().Completed)
	})
}

// Config keeps its limits beside its name in YAML, and the limits decode
// alone too (as an endpoint's `limits:`); a negative max_wait means no bound.
func TestLimitsDecodeInlineAndAlone(t *testing.T) {
	var cfg executor.Config
	require.NoError(t, yaml.Unmarshal([]byte("name: fan-out\nmax_concurrency: 4\nmax_wait: -1s\nadaptive: true\n"), &cfg))
	assert.Equal(t, executor.Config{Name: "fan-out", Limits: executor.Limits{MaxConcurrency: 4, MaxWait: -time.Second, Adaptive: true}}, cfg)
	require.NoError(t, cfg.Validate())
	var l executor.Limits
	require.NoError(t, yaml.Unmarshal([]byte("{requests_per_second: 5, burst: 2, token_burst: 10, tokens_per_minute: 60}"), &l))
	assert.Equal(t, executor.Limits{RequestsPerSecond: 5, Burst: 2, TokenBurst: 10, TokensPerMinute: 60}, l)
	assert.Equal(t, 5.0, l.RequestRate())
	assert.ErrorContains(t, executor.Limits{AdaptiveSafety: 1.5}.Validate(), "adaptive_safety: must be in (0, 1]")
}

// A lease's record goes back to the pool at Release; an Observe racing the
// Release (a stream's reader against its ctx ending) must neither touch a
// recycled record nor lose the Release, and Context stays the lease's own.
func TestLeaseObserveRacingRelease(t *testing.T) {
	p := newStarted(t, executor.Config{Limits: executor.Limits{MaxConcurrency: 2, TokensPerMinute: 6e6}})
	for range 200 {
		caller, cancel := context.WithCancel(context.Background()) // each lease gets a ctx of its own
		defer cancel()
		l, err := p.Acquire(caller, executor.Cost(10))
		require.NoError(t, err)
		ctx := l.Context()
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { l.Observe(nil, 5) })
		}
		wg.Go(func() { l.Release(nil) })
		wg.Go(func() { l.Release(nil) })
		wg.Wait()
		other, err := p.Acquire(caller, executor.Cost(10)) // reuses the record
		require.NoError(t, err)
		assert.Same(t, ctx, l.Context(), "a released lease keeps its own context")
		l.Observe(nil, 1) // after Release: nothing
		other.Release(nil)
	}
	s := p.Stats()
	assert.Equal(t, int64(400), s.Completed)
	assert.Zero(t, s.Running)
}
