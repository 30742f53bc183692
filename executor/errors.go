package executor

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrClosed is returned by Go, Run and Start once Stop has begun.
	ErrClosed = errors.New("executor: closed")
	// ErrNotStarted is returned by Go and Run before Start.
	ErrNotStarted = errors.New("executor: not started")
	// ErrQueueFull is returned by Go and Run when every running slot and every
	// queue place is taken and the pool does not block.
	ErrQueueFull = errors.New("executor: queue full")
	// ErrCostTooHigh is returned when a task's Cost exceeds what the token
	// bucket can ever hold, so waiting would never end.
	ErrCostTooHigh = errors.New("executor: task cost exceeds token burst")
	// ErrOverloaded is matched by every *OverloadError.
	ErrOverloaded = errors.New("executor: overloaded")
)

// OverloadError refuses a submission that would wait longer than the
// pool's MaxWait for its rate limits, a running slot or queue space. It is
// returned as soon as that is known: at once when the rate limits' wait is
// too long (their tokens are given back), after MaxWait when no slot or
// queue place came free.
type OverloadError struct {
	Pool string
	// Reason is "rate limit", "concurrency" or "queue".
	Reason string
	// Wait is the wait the submission would have needed; for slots and queue
	// places, which give no forecast, the MaxWait it waited.
	Wait time.Duration
	// RetryAfter is when capacity is expected: for a rate limit, when the
	// tokens it asked for come free; otherwise MaxWait.
	RetryAfter time.Duration
}

func (e *OverloadError) Error() string {
	return fmt.Sprintf("executor %q: overloaded: %s would need a wait of %v, more than max_wait; retry after %v",
		e.Pool, e.Reason, e.Wait.Round(time.Millisecond), e.RetryAfter.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrOverloaded) true.
func (e *OverloadError) Is(target error) bool { return target == ErrOverloaded }

// PanicError is the error a task's caller receives when the task panicked.
// The pool recovers, counts the panic and keeps working.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the panicking goroutine's stack
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("executor: task panicked: %v", e.Value)
}

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
