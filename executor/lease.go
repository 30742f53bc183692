package executor

import (
	"context"
	"runtime"
	"sync/atomic"
)

// Lease is one admission held by work that the caller runs itself: a
// request sent on the caller's goroutine, or a stream read until its last
// event. Acquire waits for the limits and a running slot as a task of Go or
// Run would; the lease holds the slot until Release. In Stats a lease counts
// as a task: running while held, completed or failed by Release's error.
type Lease struct {
	p   *Pool
	t   *task // the pool's record: recycled at Release, not read after it
	ctx context.Context
	// state keeps Observe and Release apart: the record an Observe
	// settles must not be recycled under it.
	state atomic.Int32
}

const (
	leaseHeld int32 = iota
	leaseObserving
	leaseReleased
)

// Acquire admits one unit of work and returns its lease, or the error a
// submission would get (ErrClosed, ErrQueueFull, *OverloadError, ctx's
// error, ...). Release the lease when the work is done; Stop waits for held
// leases until its deadline, then cancels their Context and waits for
// Release.
func (p *Pool) Acquire(ctx context.Context, opts ...TaskOption) (*Lease, error) {
	t, err := p.submit(ctx, nil, opts)
	if err != nil {
		return nil, err
	}
	if err := p.await(t); err != nil {
		p.finish(t, outNotRun, err)
		return nil, err
	}
	p.running.Add(1)
	return &Lease{p: p, t: t, ctx: t.ctx}, nil
}

// Context is cancelled when the ctx given to Acquire is, and when the pool's
// Stop deadline passes. Run the leased work under it.
func (l *Lease) Context() context.Context { return l.ctx }

// Observe reports how the provider answered the leased request: the
// rate-limit headers it sent (rl, nil for none) and the tokens it says were
// used (-1 when unknown). Adaptive limiters learn from it and stop counting
// the request as unanswered; token limits correct their estimate. Call it
// once the answer's headers (and, if known, its usage) are in, before
// Release; later calls, and calls racing another Observe, do nothing.
func (l *Lease) Observe(rl *RateLimit, used int) {
	if !l.state.CompareAndSwap(leaseHeld, leaseObserving) {
		return
	}
	if len(l.t.res) > 0 {
		l.t.res.settle(used, rl)
	}
	l.state.Store(leaseHeld)
}

// Release ends the lease, counting err as the work's result, and frees its
// slot. It is idempotent.
func (l *Lease) Release(err error) {
	for !l.state.CompareAndSwap(leaseHeld, leaseReleased) {
		if l.state.Load() == leaseReleased {
			return
		}
		runtime.Gosched() // an Observe is settling the record: microseconds
	}
	l.p.running.Add(-1)
	l.p.finish(l.t, outReturned, err)
}
