// Package executor runs work with bounded concurrency, bounded queues and
// rate limits, and drains it gracefully.
//
// A Pool is built by New from a Config, opened by Start and closed by Stop.
// Go schedules a task and returns; Run schedules and waits; Do and Map wrap
// Run for typed results and for fanning out over a slice in input order.
//
// # Admission
//
// A submission passes, in order: the closed check (ErrClosed), admission
// (MaxConcurrency + QueueSize tasks may be admitted; beyond that Go and Run
// fail with ErrQueueFull or, with BlockWhenFull, wait honouring ctx), the rate
// limits, and a running slot. Rate limits reserve their tokens at submission
// (golang.org/x/time/rate's reserve-then-wait), so many concurrent submitters
// never overshoot the configured rate; a task that gives up returns its
// tokens. A wait that cannot end before ctx's deadline fails at once.
//
// Limits: a request rate (RequestsPerSecond or RequestsPerMinute with Burst),
// a token rate (TokensPerMinute; tasks spend Cost(n)), a KeyedLimiter for
// per-key limits (Key(k)), and AdaptiveLimiters whose rate follows a
// provider's rate-limit headers (see ParseRateLimit for the header families).
//
// # Stop
//
// Stop refuses new work, lets queued and running tasks finish until its ctx
// is done, then cancels every remaining task's ctx and waits for the tasks to
// return. Every submission is accounted for in Stats: once stopped,
// Completed + Failed + Cancelled + Rejected == Submitted. A task that ignores
// its ctx delays Stop until it returns.
//
// # Errors
//
// ErrClosed, ErrNotStarted, ErrQueueFull and ErrCostTooHigh are sentinels for
// errors.Is; a panicking task yields a *PanicError with the value and stack.
// Config errors name the field in its YAML spelling.
package executor
