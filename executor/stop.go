package executor

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/khive-go/khive/internal/stopping"
)

// StopError is Stop's error when its drain time ran out: how many tasks
// were in flight then, how many of them honoured their cancelled ctx, and
// how many ignored it and were abandoned. Stop never waits for an abandoned
// task; it runs on as the caller's goroutine and its result, when it comes,
// is counted in Stats. errors.Is(err, context.DeadlineExceeded) is true.
type StopError struct {
	Pool      string
	InFlight  int64 // admitted and unfinished when the drain ended
	Cancelled int64 // of those, cancelled before they ran or ended by their ctx
	Abandoned int64 // still running when Stop returned: they ignored their ctx
}

func (e *StopError) Error() string {
	msg := fmt.Sprintf("executor %q: drain time ran out with %d tasks in flight, %d cancelled", e.Pool, e.InFlight, e.Cancelled)
	if e.Abandoned > 0 {
		msg += fmt.Sprintf("; %d tasks ignored their cancelled ctx and were abandoned, still running", e.Abandoned)
	}
	return msg + ": " + context.DeadlineExceeded.Error()
}

// Unwrap makes errors.Is(err, context.DeadlineExceeded) true.
func (e *StopError) Unwrap() error { return context.DeadlineExceeded }

// Stop refuses new work with ErrClosed at once (blocked submitters too), and
// lets queued and running tasks finish until ctx's deadline less a reserve
// (a quarter of the time left, at least 100 ms and at most 2 s). Then it
// cancels the rest and waits for them until a quarter of the reserve is left; a task
// that ignores its cancelled ctx is abandoned there, never waited for. Stop
// returns before the deadline, with a *StopError when the drain time ran
// out. Given an expired ctx it cancels at once and waits 50 ms for the
// cancelled tasks; without a deadline it drains until ctx is done, then
// waits for the cancelled tasks until they return. Stop is idempotent:
// later calls wait for the first and return its result.
func (p *Pool) Stop(ctx context.Context) error {
	plan, release := stopping.From(ctx)
	defer release()
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

	plan.Begin()
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
	if !plan.Drain(p.drained) {
		err = p.cancelRest(plan)
	}
	p.hard()
	if old&startedBit != 0 {
		p.log.Debug("executor stopped", zap.Int64("completed", p.completed.Load()), zap.Int64("failed", p.failed.Load()))
	}
	p.stopErr = err
	close(p.stopDone)
	return err
}

// cancelRest cancels the tasks left when the drain ended and waits for them
// until the plan abandons them.
func (p *Pool) cancelRest(plan stopping.Plan) error {
	e := &StopError{Pool: p.cfg.Name, InFlight: p.inFlight()}
	before := p.cancelled.Load()
	p.hard()
	plan.Cut()
	if !plan.WaitCancelled(p.drained) {
		e.Abandoned = p.inFlight()
	}
	e.Cancelled = p.cancelled.Load() - before
	p.log.Error("executor stop cancelled tasks", zap.Int64("in_flight", e.InFlight), zap.Int64("cancelled", e.Cancelled),
		zap.Int64("abandoned", e.Abandoned), zap.Error(e))
	return e
}
