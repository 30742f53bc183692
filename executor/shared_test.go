package executor_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/executor"
)

// sharedFake books one request every 100 ms, as a store shared with other
// processes would, and records costs and cancellations.
type sharedFake struct {
	mu        sync.Mutex
	next      time.Time
	costs     []int
	cancelled int
}

type sharedRes struct {
	f   *sharedFake
	due time.Time
}

func (f *sharedFake) Reserve(ctx context.Context, now time.Time, _ string, cost int) (executor.Reservation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("shared store: %w", err) // a store's round trip ends with its caller
	}
	due := f.next
	if due.Before(now) {
		due = now
	}
	f.next = due.Add(100 * time.Millisecond)
	f.costs = append(f.costs, cost)
	return &sharedRes{f, due}, nil
}

func (r *sharedRes) DelayFrom(now time.Time) time.Duration { return max(0, r.due.Sub(now)) }
func (r *sharedRes) CancelAt(time.Time) {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	r.f.cancelled++
	r.f.next = r.f.next.Add(-100 * time.Millisecond)
}

// run waits for one no-op task.
func run(p *executor.Pool, opts ...executor.TaskOption) error {
	_, err := executor.Do(context.Background(), p, func(context.Context) (struct{}, error) { return struct{}{}, nil }, opts...)
	return err
}

func TestSharedLimiterPacesTasksAndIsCancelledOnRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &sharedFake{}
		p := newStarted(t, executor.Config{Limits: executor.Limits{MaxWait: time.Second}}, executor.WithSharedLimiter(f))
		start := time.Now()
		var when []time.Duration
		for range 3 {
			require.NoError(t, run(p, executor.Cost(7)))
			when = append(when, time.Since(start))
		}
		assert.Equal(t, []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond}, when, "each task waited for its shared booking")
		assert.Equal(t, []int{7, 7, 7}, f.costs)

		// A booking beyond nine tenths of MaxWait is refused and given back.
		f.mu.Lock()
		f.next = time.Now().Add(2 * time.Second)
		f.mu.Unlock()
		err := run(p)
		require.ErrorIs(t, err, executor.ErrOverloaded)
		assert.Equal(t, 1, f.cancelled)
	})
}

func TestSharedLimiterGetsTheSubmittersContext(t *testing.T) {
	f := &sharedFake{}
	p := newStarted(t, executor.Config{}, executor.WithSharedLimiter(f))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Acquire(ctx)
	require.ErrorIs(t, err, context.Canceled, "the store's round trip ended with the caller's ctx")
	assert.Contains(t, err.Error(), "shared store")
	assert.Empty(t, f.costs, "nothing was booked")
	lease, err := p.Acquire(context.Background())
	require.NoError(t, err, "the pool serves the next caller")
	lease.Release(nil)
}
