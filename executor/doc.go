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
// tokens. A wait that cannot end before ctx's deadline fails at once, and
// with MaxWait set a wait longer than it is refused with an *OverloadError
// saying when capacity is expected: at once for a rate-limit wait (over 90 %
// of MaxWait), at MaxWait for a slot or queue space.
//
// Work that the caller runs itself (a request, a stream read until its last
// event) takes a Lease with Acquire: the same admission, a slot held until
// Release, and Observe to feed the provider's answer back to the limits.
//
// Limits: a request rate (RequestsPerSecond or RequestsPerMinute with Burst),
// a token rate (TokensPerMinute; tasks spend Cost(n)), a KeyedLimiter for
// per-key limits (Key(k)), and AdaptiveLimiters that learn a provider's
// bucket (size, refill, what is left) from its rate-limit headers (see
// package ratelimit for the header families and their meanings).
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
// ErrClosed, ErrNotStarted, ErrQueueFull, ErrCostTooHigh and ErrOverloaded
// (matched by every *OverloadError) are sentinels for
// errors.Is; a panicking task yields a *PanicError with the value and stack.
// Config errors name the field in its YAML spelling.
package executor
