package executor

import (
	"context"
	"time"
)

// SharedLimiter is a rate limit kept outside the process (in Redis, say),
// so that several processes calling one provider share it. A pool given
// one consults it at every reservation, after its own limits: a task waits
// for the later of them, and one that would wait past MaxWait is refused
// and its reservations cancelled, as with the pool's own.
type SharedLimiter interface {
	// Reserve takes one request of cost tokens (as given with Cost; 0 when
	// none) now or at a time to come; the reservation says how long until
	// then. ctx is the submitter's: a round trip to the store should end
	// when it does (the pool refuses the task with Reserve's error).
	Reserve(ctx context.Context, now time.Time, key string, cost int) (Reservation, error)
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

func (g sharedGate) reserve(ctx context.Context, now time.Time, key string, cost int) (Reservation, error) {
	r, err := g.l.Reserve(ctx, now, key, cost)
	if err != nil || r == nil {
		return nil, err
	}
	return r, nil
}
