package executor

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// StopReserve is the part of a stop budget kept for cancelling what is
// left, waiting for it to return and closing: a quarter of the time left,
// at least 50 ms and at most 2 s, or all of it when less than 50 ms is
// left. Stop drains until its deadline less this reserve, so that it
// returns before the deadline even on a loaded machine; the fx module
// spends one reserve on all of khive's components.
func StopReserve(left time.Duration) time.Duration {
	const least, most = 50 * time.Millisecond, 2 * time.Second
	if left <= least {
		return max(left, 0)
	}
	return min(max(left/4, least), most)
}

// DrainUntil is when a stop with ctx gives up draining: ctx's deadline less
// StopReserve of the time left; zero without a deadline (drain until ctx is
// done).
func DrainUntil(ctx context.Context) time.Time {
	dl, ok := ctx.Deadline()
	if !ok {
		return time.Time{}
	}
	return dl.Add(-StopReserve(time.Until(dl)))
}

// minCancelWait is the least Stop waits for cancelled tasks to return, even
// past a deadline too close to hold a reserve.
const minCancelWait = 50 * time.Millisecond

// Stop refuses new work with ErrClosed, lets queued and running tasks
// finish until DrainUntil(ctx), then cancels the rest and waits for them to
// return, until ctx's deadline (at least 50 ms, for deadlines too close to
// hold a reserve). It returns by the deadline, with an error saying how
// many tasks were cancelled (and how many did not return, for tasks that
// ignore their ctx). Stop is idempotent: later calls wait
// for the first and return its result.
func (p *Pool) Stop(ctx context.Context) error { return p.StopBy(ctx, DrainUntil(ctx)) }

// StopBy is Stop with an explicit end of the drain: tasks may finish until
// drainUntil (zero: until ctx is done); then the rest are cancelled and
// waited for until ctx's deadline (without one: until they return).
func (p *Pool) StopBy(ctx context.Context, drainUntil time.Time) error {
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		select {
		case <-p.stopDone:
			return p.stopErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.stopping = true
	p.mu.Unlock()

	old := p.state.Or(closedBit)
	if p.admit != nil {
		select { // lets blocked submitters in, one after another, to fail with ErrClosed
		case p.admit <- new(task):
		default:
		}
	}
	if old&countMask == 0 {
		p.signalDrained()
	}
	var err error
	select {
	case <-p.drained: // checked first: an expired ctx with nothing in flight is a clean stop
	default:
		err = p.drainOrCancel(ctx, drainUntil)
	}
	p.hard()
	if old&startedBit != 0 {
		p.log.Debug("executor stopped", zap.Int64("completed", p.completed.Load()), zap.Int64("failed", p.failed.Load()))
	}
	p.stopErr = err
	close(p.stopDone)
	return err
}

// drainOrCancel waits for the tasks to finish until drainUntil or ctx is
// done, then cancels the rest and waits for them to return: until ctx's
// deadline, but at least minCancelWait (without a deadline, until they
// have).
func (p *Pool) drainOrCancel(ctx context.Context, drainUntil time.Time) error {
	var drainEnd <-chan time.Time
	if !drainUntil.IsZero() {
		t := time.NewTimer(time.Until(drainUntil))
		defer t.Stop()
		drainEnd = t.C
	}
	select {
	case <-p.drained:
		return nil
	case <-ctx.Done():
	case <-drainEnd:
	}
	inFlight := p.inFlight()
	before := p.cancelled.Load()
	p.hard()
	// Wait for the cancelled tasks until the deadline, and in any case for
	// minCancelWait: a budget too small to hold a reserve must not leave
	// tasks that honour their ctx unaccounted for (they return in
	// microseconds once scheduled). Without a deadline, until they return.
	left := int64(0)
	if _, ok := ctx.Deadline(); !ok {
		<-p.drained
	} else {
		grace := time.NewTimer(minCancelWait)
		defer grace.Stop()
		select {
		case <-p.drained:
		case <-grace.C:
			select {
			case <-p.drained:
			case <-ctx.Done():
				left = p.inFlight()
			}
		}
	}
	n := p.cancelled.Load() - before
	err := fmt.Errorf("executor %q: drain time ran out with %d tasks in flight, %d cancelled: %w",
		p.cfg.Name, inFlight, n, context.DeadlineExceeded)
	if left > 0 {
		err = fmt.Errorf("executor %q: %d tasks ignored their cancelled ctx and still run: %w", p.cfg.Name, left, err)
	}
	p.log.Error("executor stop cancelled tasks",
		zap.Int64("in_flight", inFlight), zap.Int64("cancelled", n), zap.Int64("still_running", left), zap.Error(err))
	return err
}
