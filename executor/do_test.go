package executor_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/executor"
)

func TestDo(t *testing.T) {
	p := newStarted(t, executor.Config{Limits: executor.Limits{MaxConcurrency: 1}})
	v, err := executor.Do(context.Background(), p, func(context.Context) (int, error) { return 42, nil })
	require.NoError(t, err)
	assert.Equal(t, 42, v)
	_, err = executor.Do(context.Background(), p, func(context.Context) (int, error) { return 0, errors.New("nope") })
	assert.EqualError(t, err, "nope")
}

func TestMapKeepsOrderAndJoinsErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A tiny queue: Map must wait for space rather than be rejected.
		p := newStarted(t, executor.Config{Limits: executor.Limits{MaxConcurrency: 3, QueueSize: 1}})
		items := make([]int, 50)
		for i := range items {
			items[i] = i
		}
		out, err := executor.Map(context.Background(), p, items, func(_ context.Context, n int) (string, error) {
			time.Sleep(time.Duration(50-n) * time.Millisecond) // later items finish first
			if n%10 == 7 {
				return "", fmt.Errorf("bad %d", n)
			}
			return strconv.Itoa(n * n), nil
		})
		require.Len(t, out, 50)
		for i, s := range out {
			if i%10 == 7 {
				assert.Empty(t, s)
				continue
			}
			assert.Equal(t, strconv.Itoa(i*i), s)
		}
		require.Error(t, err)
		for _, n := range []int{7, 17, 27, 37, 47} {
			assert.ErrorContains(t, err, fmt.Sprintf("item %d: bad %d", n, n))
		}
		assert.Len(t, err.(interface{ Unwrap() []error }).Unwrap(), 5)
		assert.Zero(t, p.Stats().Rejected)
	})
}

func TestMapFailFastCancelsTheRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStarted(t, executor.Config{Limits: executor.Limits{MaxConcurrency: 2, QueueSize: 2}})
		var ran atomic.Int64
		boom := errors.New("boom")
		_, err := executor.Map(context.Background(), p, make([]int, 100), func(ctx context.Context, _ int) (int, error) {
			if ran.Add(1) == 1 {
				return 0, boom
			}
			select {
			case <-time.After(time.Second):
				return 1, nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}, executor.FailFast())
		require.ErrorIs(t, err, boom)
		assert.Len(t, err.(interface{ Unwrap() []error }).Unwrap(), 1, "only the real failure, not the cancellations")
		assert.Less(t, ran.Load(), int64(10), "the rest were not run")
	})
}

func TestMapReportsItemsThatNeverRan(t *testing.T) {
	p := newStarted(t, executor.Config{Limits: executor.Limits{MaxConcurrency: 1, QueueSize: 10}})
	ctx, cancel := context.WithCancel(context.Background())
	_, err := executor.Map(ctx, p, make([]int, 5), func(ctx context.Context, _ int) (int, error) {
		cancel() // the first item cancels the caller; the others never run
		return 0, nil
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Len(t, err.(interface{ Unwrap() []error }).Unwrap(), 4, "each unrun item is reported")
}

func TestMapOnClosedPool(t *testing.T) {
	p, err := executor.New(executor.Config{})
	require.NoError(t, err)
	require.NoError(t, p.Stop(context.Background()))
	_, err = executor.Map(context.Background(), p, []int{1, 2, 3}, func(context.Context, int) (int, error) { return 0, nil })
	assert.ErrorIs(t, err, executor.ErrClosed)
	assert.ErrorContains(t, err, "items 0..2 not submitted")
}

func TestMapPerItemOptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStarted(t, executor.Config{Limits: executor.Limits{TokensPerMinute: 600, TokenBurst: 10}})
		start := time.Now()
		_, err := executor.Map(context.Background(), p, []int{10, 10, 10}, func(context.Context, int) (int, error) { return 0, nil },
			executor.WithTaskOptions(func(i int) []executor.TaskOption { return []executor.TaskOption{executor.Cost(10)} }))
		require.NoError(t, err)
		assert.Equal(t, 2*time.Second, time.Since(start), "10 tokens/s: the 2nd and 3rd wait 1 s each")
	})
}
