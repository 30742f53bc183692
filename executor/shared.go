package executor

import "time"

// SharedLimiter is a rate limit kept outside the process (in Redis, say),
// so that several processes calling one provider share it. A pool given
// one consults it at every reservation, after its own limits: a task waits
// for the later of them, and one that would wait past MaxWait is refused
// and its reservations cancelled, as with the pool's own.
type SharedLimiter interface {
	// Reserve takes one request of cost tokens (as given with Cost; 0 when
	// none) now or at a time to come; the reservation says how long until
	// then.
	Reserve(now time.Time, key string, cost int) (SharedReservation, error)
}

// SharedReservation is what a SharedLimiter holds for a task.
type SharedReservation interface {
	DelayFrom(now time.Time) time.Duration
	// CancelAt gives back what a task that will not run reserved.
	CancelAt(now time.Time)
}

// WithSharedLimiter makes every task wait on l too.
func WithSharedLimiter(l SharedLimiter) Option {
	return optionFunc(func(p *Pool) {
		if l != nil {
			p.gates = append(p.gates, sharedGate{l})
		}
	})
}

type sharedGate struct{ l SharedLimiter }

func (g sharedGate) reserve(now time.Time, key string, cost int) (reservation, error) {
	r, err := g.l.Reserve(now, key, cost)
	if err != nil || r == nil {
		return nil, err
	}
	return r, nil
}
