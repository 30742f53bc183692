package executor

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

// A gate is one limit a task passes before it runs. reserve takes what the
// task needs at now (reserve-then-wait: the tokens are held at once, so
// concurrent callers never overshoot) and reports the reservation.
type gate interface {
	reserve(now time.Time, key string, cost int) (*rate.Reservation, error)
}

// holder is a gate that can also hold every task until a time, e.g. the
// adaptive limiter pausing until a provider's window resets.
type holder interface {
	heldUntil() time.Time
}

// bucket is a plain token bucket spending a fixed or cost-sized amount.
type bucket struct {
	lim     *rate.Limiter
	useCost bool // spend the task's Cost instead of 1
	what    string
}

func (b *bucket) reserve(now time.Time, _ string, cost int) (*rate.Reservation, error) {
	n := 1
	if b.useCost {
		n = cost
		if n == 0 {
			return nil, nil
		}
	}
	return reserveN(b.lim, now, n, b.what)
}

// reserveN reserves n tokens, turning "more than the bucket can ever hold"
// into ErrCostTooHigh instead of an endless wait.
func reserveN(lim *rate.Limiter, now time.Time, n int, what string) (*rate.Reservation, error) {
	if b := lim.Burst(); n > b && lim.Limit() != rate.Inf {
		return nil, fmt.Errorf("%w: %s cost %d > burst %d", ErrCostTooHigh, what, n, b)
	}
	r := lim.ReserveN(now, n)
	if !r.OK() {
		return nil, fmt.Errorf("%w: %s cost %d cannot be granted", ErrCostTooHigh, what, n)
	}
	return r, nil
}

// reservations is the set a task holds while it waits.
type reservations []*rate.Reservation

// delay is the longest wait among the reservations.
func (rs reservations) delay(now time.Time) time.Duration {
	var d time.Duration
	for _, r := range rs {
		d = max(d, r.DelayFrom(now))
	}
	return d
}

// cancel returns the tokens of reservations whose time has not come.
func (rs reservations) cancel(now time.Time) {
	for _, r := range rs {
		r.CancelAt(now)
	}
}

// Sleep waits d or until ctx is done. It refuses at once, with an error
// wrapping context.DeadlineExceeded, when ctx's deadline comes before the
// wait would end: there is no point sleeping past it.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return fmt.Errorf("wait of %v does not fit before the context deadline: %w", d, context.DeadlineExceeded)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
