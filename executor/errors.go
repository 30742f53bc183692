package executor

import (
	"errors"
	"fmt"
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
)

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
