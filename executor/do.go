package executor

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Do runs fn on e and returns its value and error.
func Do[T any](ctx context.Context, e Executor, fn func(ctx context.Context) (T, error), opts ...TaskOption) (T, error) {
	var v T
	err := e.Run(ctx, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	}, opts...)
	return v, err
}

// MapOption tunes Map.
type MapOption interface {
	applyMap(*mapOptions)
}

type mapOptions struct {
	failFast bool
	task     func(i int) []TaskOption
}

type mapOptionFunc func(*mapOptions)

func (f mapOptionFunc) applyMap(o *mapOptions) { f(o) }

// FailFast cancels the items still waiting or running once one fails; the
// error then holds only the failures, not the cancellations they caused.
func FailFast() MapOption {
	return mapOptionFunc(func(o *mapOptions) { o.failFast = true })
}

// WithTaskOptions gives item i its own task options, such as a Key or Cost.
func WithTaskOptions(f func(i int) []TaskOption) MapOption {
	return mapOptionFunc(func(o *mapOptions) { o.task = f })
}

var errMapFailed = errors.New("executor: map cancelled after an item failed")

// Map runs fn over items on e and returns the results in input order. The
// returned error joins every failed item's error, each prefixed with its
// index; results of failed items are zero. Submission waits for queue space,
// so Map is bounded by e's limits whatever the input size.
func Map[T, R any](ctx context.Context, e Executor, items []T, fn func(ctx context.Context, item T) (R, error), opts ...MapOption) ([]R, error) {
	var mo mapOptions
	for _, o := range opts {
		o.applyMap(&mo)
	}
	results := make([]R, len(items))
	errs := make([]error, len(items))
	mctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var wg sync.WaitGroup
	var submitErr error
	for i, item := range items {
		if mo.failFast && context.Cause(mctx) == errMapFailed {
			break // the rest would only be cancelled
		}
		topts := []TaskOption{WaitForSpace(), OnDone(func(err error) {
			if err != nil {
				errs[i] = err
				if mo.failFast {
					cancel(errMapFailed)
				}
			}
			wg.Done()
		})}
		if mo.task != nil {
			topts = append(topts, mo.task(i)...)
		}
		wg.Add(1)
		err := e.Go(mctx, func(ctx context.Context) error {
			r, err := fn(ctx, item)
			if err == nil {
				results[i] = r
			}
			return err
		}, topts...)
		if err != nil {
			wg.Done()
			if mo.failFast && context.Cause(mctx) == errMapFailed {
				break
			}
			submitErr = fmt.Errorf("items %d..%d not submitted: %w", i, len(items)-1, err)
			break
		}
	}
	wg.Wait()

	var joined []error
	for i, err := range errs {
		if err == nil {
			continue
		}
		if mo.failFast && errors.Is(err, context.Canceled) && context.Cause(mctx) == errMapFailed {
			continue
		}
		joined = append(joined, fmt.Errorf("item %d: %w", i, err))
	}
	if submitErr != nil {
		joined = append(joined, submitErr)
	}
	return results, errors.Join(joined...)
}
