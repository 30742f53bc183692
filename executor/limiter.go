package executor

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

// A gate is one limit a task passes before it runs. reserve takes what the
// task needs at now (reserve-then-wait: the tokens are held at once, so
// concurrent callers never overshoot) and reports the reservation, nil when
// the task needs nothing from this gate.
type gate interface {
	reserve(ctx context.Context, now time.Time, key string, cost int) (Reservation, error)
}

// Reservation is what a limit holds for a task: when it is due and how
// to give it back (a *rate.Reservation is one). The pool's own limits and
// a SharedLimiter's return them; an adaptive limiter's DelayFrom may grow
// after the fact (a pause).
type Reservation interface {
	// DelayFrom is how long from now until the reservation is due.
	DelayFrom(now time.Time) time.Duration
	// CancelAt gives back what a task that will not run reserved.
	CancelAt(now time.Time)
}

// mover is a reservation that can come due before its forecast (an
// adaptive limiter's queue); changed is closed when it may have, nil when
// it cannot any more.
type mover interface {
	changed() <-chan struct{}
}

// settler is a reservation that wants to hear how its task's request was
// answered: usage (-1 when unknown) and the provider's headers (nil when
// none).
type settler interface {
	settle(now time.Time, used int, rl *RateLimit)
	// needsClock says whether settle(used) would read now; the clock is
	// read only for those (a clock read is 20-50 ns, several per call).
	needsClock(used int) bool
}

// bucket is a plain token bucket spending a fixed or cost-sized amount.
type bucket struct {
	lim     *rate.Limiter
	useCost bool // spend the task's Cost instead of 1
	what    string
}

func (b *bucket) reserve(_ context.Context, now time.Time, _ string, cost int) (Reservation, error) {
	if !b.useCost {
		return reserveN(b.lim, now, 1, b.what)
	}
	if cost == 0 {
		return nil, nil
	}
	r, err := reserveN(b.lim, now, cost, b.what)
	if err != nil {
		return nil, err
	}
	return &costReservation{Reservation: r, lim: b.lim, n: cost}, nil
}

// costReservation is a token-bucket reservation made with an estimate; an
// answer that reports more usage spends the difference too (the bucket goes
// into debt; x/time/rate cannot give back what was spent).
type costReservation struct {
	*rate.Reservation
	lim     *rate.Limiter
	n       int
	settled bool
}

func (r *costReservation) needsClock(used int) bool { return !r.settled && used > r.n }

func (r *costReservation) settle(now time.Time, used int, _ *RateLimit) {
	if r.settled {
		return
	}
	r.settled = true
	if extra := used - r.n; extra > 0 {
		r.lim.ReserveN(now, min(extra, r.lim.Burst()))
	}
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
type reservations []Reservation

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

// settle tells the reservations that want it how the request was answered,
// reading the clock only if one of them needs it.
func (rs reservations) settle(used int, rl *RateLimit) {
	var now time.Time
	for _, r := range rs {
		if s, ok := r.(settler); ok {
			if now.IsZero() && s.needsClock(used) {
				now = time.Now()
			}
			s.settle(now, used, rl)
		}
	}
}

// wakes returns the channels that say the reservations may be due before
// their forecast (at most two: one per adaptive window).
func (rs reservations) wakes() (a, b <-chan struct{}) {
	for _, r := range rs {
		if m, ok := r.(mover); ok {
			if a == nil {
				a = m.changed()
			} else {
				b = m.changed()
			}
		}
	}
	return a, b
}
