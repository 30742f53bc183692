// Package stopping is the stop budget khive's components share: when each
// stops taking work, when the drain ends, until when cancelled work is
// waited for, and by when every component must have closed.
//
// One stop with a deadline D and t left runs in three phases, with a
// reserve R = Reserve(t) kept at the end:
//
//   - drain, until D−R: the component refuses new work and lets what it
//     has finish (a component planned After another keeps serving until
//     that one has drained, so the calls draining work makes are served);
//   - cancel, D−R to D−R/4: what is left is cancelled, and waited for;
//   - close, D−R/4 to D−R/8: work that ignored its cancellation is
//     abandoned (counted, never waited for), clients are closed.
//
// A component's Stop reads its plan from the stop's context (With); a
// plain Stop(ctx) makes its own (From).
package stopping

import (
	"context"
	"time"
)

// Reserve is the part of a stop budget kept for cancelling what is left,
// waiting for it and closing: a quarter of the time left, at least 100 ms
// and at most 2 s, or all of it when less than 100 ms is left. Three
// quarters of it go to the cancelled work's return: under load, tens of
// cancelled calls take tens of milliseconds to come back.
func Reserve(left time.Duration) time.Duration {
	const least, most = 100 * time.Millisecond, 2 * time.Second
	if left <= least {
		return max(left, 0)
	}
	return min(max(left/4, least), most)
}

// MinCancelWait is the least a stop whose context has already expired
// waits for cancelled work: work that honours its context returns in
// microseconds, and must not be reported abandoned for want of a moment.
const MinCancelWait = 50 * time.Millisecond

// Plan is one component's part of a stop. The zero Plan drains until its
// context ends and waits for cancelled work until it returns.
type Plan struct {
	begin     <-chan struct{} // serve until closed; nil: refuse at once
	drainEnd  <-chan struct{} // the drain is over for everyone
	abandonAt time.Time       // stop waiting for cancelled work; zero: never
	closeBy   time.Time       // every close is done; zero: no bound
	onCut     func()          // told once its leftover work is cancelled (or there was none)
}

type planKey struct{}

// With returns ctx carrying p, for a component's Stop.
func With(ctx context.Context, p Plan) context.Context {
	return context.WithValue(ctx, planKey{}, p)
}

// From returns the plan ctx carries, or a new one made from ctx's deadline
// (New). Call release when the stop is over.
func From(ctx context.Context) (p Plan, release func()) {
	if p, ok := ctx.Value(planKey{}).(Plan); ok {
		return p, func() {}
	}
	return New(ctx)
}

// New plans a stop by ctx's deadline as the package doc says; without a
// deadline the drain lasts until ctx ends and cancelled work is waited for
// until it returns. An expired ctx cancels at once and waits MinCancelWait
// for cancelled work. Call release when the stop is over.
func New(ctx context.Context) (p Plan, release func()) {
	dl, ok := ctx.Deadline()
	if !ok {
		return Plan{drainEnd: ctx.Done()}, func() {}
	}
	now := time.Now()
	left := dl.Sub(now)
	r := Reserve(left)
	p = Plan{abandonAt: dl.Add(-r / 4), closeBy: dl.Add(-r / 8)}
	if left <= 0 {
		p.abandonAt = now.Add(MinCancelWait)
		p.closeBy = p.abandonAt
	}
	end := make(chan struct{})
	p.drainEnd = end
	t := time.AfterFunc(left-r, func() { close(end) })
	return p, func() { t.Stop() }
}

// After is p for a component that keeps serving until begin is closed (or
// the drain ends): one that serves the work of another still draining.
func (p Plan) After(begin <-chan struct{}) Plan {
	p.begin = begin
	return p
}

// OnCut is p with f called once the component has cancelled what its
// drain left; never when it drained.
func (p Plan) OnCut(f func()) Plan {
	p.onCut = f
	return p
}

// EndDrainWith is p with its drain ending when end is closed instead: for
// components whose work serves another's, so that the other is cut first
// and its work ends by its own cancellation, as it should be counted.
func (p Plan) EndDrainWith(end <-chan struct{}) Plan {
	p.drainEnd = end
	return p
}

// Cut tells the plan's OnCut that the component's leftover work is
// cancelled.
func (p Plan) Cut() {
	if p.onCut != nil {
		p.onCut()
	}
}

// Inner is p for the parts of a component: they refuse at once, and tell
// no one of their cut.
func (p Plan) Inner() Plan {
	p.begin, p.onCut = nil, nil
	return p
}

// Begin waits until the component must refuse new work: at once, when
// begin is closed, or when the drain ends.
func (p Plan) Begin() {
	if p.begin == nil {
		return
	}
	select {
	case <-p.begin:
	case <-p.drainEnd:
	}
}

// Drain waits until done is closed or the drain ends, and reports whether
// done was closed.
func (p Plan) Drain(done <-chan struct{}) bool {
	select {
	case <-done: // first: nothing in flight is a clean stop, whatever the time
		return true
	default:
	}
	select {
	case <-done:
		return true
	case <-p.drainEnd:
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
}

// WaitCancelled waits for done (cancelled work returning) until the plan
// abandons it, and reports whether done was closed.
func (p Plan) WaitCancelled(done <-chan struct{}) bool {
	if p.abandonAt.IsZero() {
		<-done
		return true
	}
	select {
	case <-done:
		return true
	default:
	}
	t := time.NewTimer(time.Until(p.abandonAt))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// DrainEnd is closed when the drain is over for everyone.
func (p Plan) DrainEnd() <-chan struct{} { return p.drainEnd }

// CloseBy is when every close must be done; zero: no bound.
func (p Plan) CloseBy() time.Time { return p.closeBy }

// CloseContext is ctx with the plan's close deadline, for a client's Close.
func (p Plan) CloseContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx = context.WithoutCancel(ctx)
	if p.closeBy.IsZero() {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, p.closeBy)
}
