package fxmodule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/internal/stopping"
)

// shutdown stops all of one app's khive components, once. fx runs OnStop
// hooks in reverse order, checks the stop context before each one and, once
// it has expired, skips the rest and returns only the context's error. So
// the first khive hook fx runs (the shared executor's, appended after every
// endpoint's) stops everything of khive's with one plan (internal/stopping):
//
//   - the executor refuses new tasks at once and drains; the endpoints go
//     on serving (its tasks' calls) until it has drained, then refuse new
//     calls and drain theirs, all until the deadline less one reserve;
//   - then every component cancels what is left, at once, and waits for it
//     until a quarter of the reserve is left; a task that ignores its ctx is
//     abandoned there and counted, never waited for past that point;
//   - then every client is closed, concurrently, by the deadline less an
//     eighth of the reserve.
//
// The hook returns before the deadline with every failure (close errors,
// the drain's outcome, abandoned tasks) joined into its error. The hooks fx
// still calls afterwards find the work done and return nil: each failure
// reaches app.Stop's error once.
type shutdown struct {
	once sync.Once
	exec *executor.Pool // set by NewExecutor
	name string         // the executor's
	reg  *Registry
	err  error
}

// stop runs the whole shutdown on the first call and returns its joined
// error; later calls return nil.
func (s *shutdown) stop(ctx context.Context) error {
	first := false
	s.once.Do(func() {
		first = true
		s.err = s.run(ctx)
	})
	if first {
		return s.err
	}
	return nil
}

// stopper is a component's Stop, for run.
type stopper struct {
	what string
	stop func(context.Context) error
}

func (s *shutdown) run(ctx context.Context) error {
	plan, release := stopping.New(ctx)
	defer release()
	// In reverse dependency order: the executor, then the endpoints in
	// reverse. Each part begins when the one before it has stopped, or
	// when the drain ends for all.
	var parts []stopper
	if s.exec != nil {
		parts = append(parts, stopper{fmt.Sprintf("executor %q", s.name), s.exec.Stop})
	}
	for i := len(s.reg.names) - 1; i >= 0; i-- {
		e := s.reg.byName[s.reg.names[i]]
		parts = append(parts, stopper{fmt.Sprintf("endpoint %q", e.Name()), e.Stop})
	}
	// finished[i] is closed when part i's Stop has returned.
	finished := make([]chan struct{}, len(parts))
	for i := range finished {
		finished[i] = make(chan struct{})
	}
	// The endpoints' drain ends when the executor has cancelled what its
	// drain left, so that a task is ended by its own cancellation (and
	// counted so), not by its call's being cut in the same instant; when
	// the executor drained, at the plan's end of the drain.
	execPlan, endpointsPlan := plan, plan
	if s.exec != nil {
		cut := make(chan struct{})
		execPlan = plan.OnCut(sync.OnceFunc(func() { close(cut) }))
		end, over := make(chan struct{}), make(chan struct{})
		defer close(over)
		go func() {
			defer close(end)
			select {
			case <-cut:
			case <-finished[0]: // it drained (or had stopped already): the plan's end
				select {
				case <-plan.DrainEnd():
				case <-over:
				}
			case <-over:
			}
		}()
		endpointsPlan = plan.EndDrainWith(end)
	}

	type stopped struct {
		i   int
		err error
	}
	// Buffered: a component whose close overruns the plan finishes alone.
	results := make(chan stopped, len(parts))
	for i, p := range parts {
		pp := execPlan
		if i > 0 || s.exec == nil {
			pp = endpointsPlan
		}
		if i > 0 {
			pp = pp.After(finished[i-1])
		}
		pctx := stopping.With(ctx, pp)
		go func() {
			err := p.stop(pctx)
			close(finished[i])
			results <- stopped{i, err}
		}()
	}
	var overrun <-chan time.Time
	if by := plan.CloseBy(); !by.IsZero() {
		t := time.NewTimer(time.Until(by))
		defer t.Stop()
		overrun = t.C
	}
	errs := make([]error, len(parts))
	done := make([]bool, len(parts))
	for left := len(parts); left > 0; left-- {
		select {
		case r := <-results:
			errs[r.i], done[r.i] = r.err, true
		case <-overrun:
			for i, p := range parts {
				if !done[i] {
					errs[i] = fmt.Errorf("%s: did not finish closing by the stop deadline: %w", p.what, context.DeadlineExceeded)
				}
			}
			return errors.Join(errs...)
		}
	}
	return errors.Join(errs...)
}
