package executor

import (
	"context"
	"time"

	"github.com/khive-go/khive/internal/hooks"
)

// Func is a unit of work. Its context is cancelled when the submitter's
// context is, and when the executor's Stop deadline passes.
type Func func(ctx context.Context) error

// Executor schedules work with bounded concurrency and rate limits. It is
// what services are handed: it has no Start or Stop, so no user of a
// shared executor can stop it; its owner (the fx module, or whoever built
// the *Pool) runs the lifecycle. *Pool is the implementation; the interface
// lets callers and tests swap it.
type Executor interface {
	// Go schedules fn and returns without waiting for it. A non-nil error
	// means fn was not scheduled and will never run.
	Go(ctx context.Context, fn Func, opts ...TaskOption) error
	// Run schedules fn and waits for its result.
	Run(ctx context.Context, fn Func, opts ...TaskOption) error
	Stats() Stats
}

var _ Executor = (*Pool)(nil)

// Stats is a snapshot of a pool's counters. Once a pool has stopped,
// Completed + Failed + Cancelled + Rejected == Submitted.
type Stats struct {
	Submitted int64 // calls to Go and Run
	Running   int64 // tasks executing now
	Queued    int64 // tasks admitted and waiting for a rate limit or a slot
	Completed int64 // tasks that returned nil
	Failed    int64 // tasks that returned an error or panicked
	Panicked  int64 // tasks that panicked (also counted in Failed)
	Rejected  int64 // submissions refused: closed, queue full, bad cost, ctx done while blocking
	Cancelled int64 // tasks whose context ended before they ran, or that returned an error after it ended
	// LimiterWait is the total time tasks spent waiting on rate limiters.
	LimiterWait time.Duration
}

// TaskOption tunes one submission.
type TaskOption interface {
	// with is o with the option applied: taken and given by value, so
	// that collecting a task's options allocates nothing.
	with(o taskOptions) taskOptions
}

type taskOptions struct {
	key          string
	cost         int
	waitForSpace bool
	inherit      bool
	onDone       func(error)
}

type (
	keyOption     string
	costOption    int
	waitOption    struct{}
	inheritOption struct{}
	onDoneOption  func(error)
)

func (k keyOption) with(o taskOptions) taskOptions    { o.key = string(k); return o }
func (c costOption) with(o taskOptions) taskOptions   { o.cost = int(c); return o }
func (waitOption) with(o taskOptions) taskOptions     { o.waitForSpace = true; return o }
func (inheritOption) with(o taskOptions) taskOptions  { o.inherit = true; return o }
func (f onDoneOption) with(o taskOptions) taskOptions { o.onDone = f; return o }

// Key selects the per-key limiter (see WithKeyedLimiter) for the task.
// Tasks without a key skip the keyed limiter.
func Key(k string) TaskOption {
	return keyOption(k)
}

// Cost is the number of tokens the task spends from the token limit and from
// a token-window adaptive limiter. The default is 0: the task spends none.
func Cost(tokens int) TaskOption {
	return costOption(tokens)
}

// WaitForSpace makes this submission wait for queue space, honouring ctx,
// even when the pool's BlockWhenFull is off. Map uses it so that a large
// input is throttled by the pool instead of rejected.
func WaitForSpace() TaskOption {
	return waitOption{}
}

// inheritContext runs the task (or lease) under the submitter's ctx as it
// is, without a context of its own: Stop's cancel at its deadline does not
// reach it. For work whose ctx is cancelled by something that stops first
// (an endpoint's attempt runs under its call's ctx, which the endpoint's
// call tracker cancels); it saves a context per task. Only endpoint uses
// it, through hooks.InheritContext.
var inheritContext TaskOption = inheritOption{}

func init() { hooks.InheritContext = inheritContext }

// OnDone calls f with the task's final error once it ends, whether it ran,
// failed, panicked or was cancelled before it ran. It lets Go callers learn
// every outcome without blocking; f must not block.
func OnDone(f func(err error)) TaskOption {
	return onDoneOption(f)
}
