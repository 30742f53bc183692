package fxmodule

import (
	"context"
	"errors"
	"sync"

	"github.com/khive-go/khive/executor"
)

// shutdown stops all of one app's khive components, once. fx runs OnStop
// hooks in reverse order, checks the stop context before each one and, once
// it has expired, skips the rest and returns only the context's error. So
// the first khive hook fx runs (the shared executor's, appended after every
// endpoint's) stops everything of khive's in reverse dependency order, the
// executor and then each endpoint, with one budget: all drain until the
// deadline less one executor.StopReserve, then cancel, wait and close
// inside the reserve, and the hook returns before the deadline with every
// failure joined into its error. The hooks fx still calls afterwards find
// the work done and return nil: each failure reaches app.Stop's error once.
type shutdown struct {
	once sync.Once
	exec *executor.Pool // set by NewExecutor
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

func (s *shutdown) run(ctx context.Context) error {
	drainUntil := executor.DrainUntil(ctx)
	var errs []error
	if s.exec != nil {
		errs = append(errs, s.exec.StopBy(ctx, drainUntil))
	}
	for i := len(s.reg.names) - 1; i >= 0; i-- {
		errs = append(errs, s.reg.byName[s.reg.names[i]].StopBy(ctx, drainUntil))
	}
	return errors.Join(errs...)
}
