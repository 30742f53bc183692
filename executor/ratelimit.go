package executor

import "time"

// Window is one rate-limit window a provider reported. A field is -1 when
// the headers did not give it (or gave garbage).
type Window struct {
	Limit     int64
	Remaining int64
	// Reset is, for a token bucket, the time until the
	// bucket is full again; for a fixed window (Fixed), the time until the
	// window restarts with Limit.
	Reset time.Duration
	// ResetAt is the instant the headers gave (Anthropic's RFC 3339 times,
	// epoch seconds); zero when they gave a duration. Reset is measured
	// from when the answer was read, ResetAt from nothing: an answer that
	// took seconds to come back still says when the bucket was to be full.
	ResetAt time.Time
	// Fixed is set for the generic x-ratelimit-* / ratelimit-* families and
	// the IETF RateLimit fields, which count in fixed windows.
	Fixed bool
}

// Known reports whether the headers gave any of the window's fields.
func (w Window) Known() bool { return w.Limit >= 0 || w.Remaining >= 0 || w.Reset >= 0 }

// Exhausted reports whether the window has nothing left.
func (w Window) Exhausted() bool { return w.Remaining == 0 }

// RateLimit is what a response's headers say about the provider's limits:
// plain data, read by package ratelimit (or a provider's dialect) and fed to
// an AdaptiveLimiter through Lease.Observe or ObserveRateLimit.
type RateLimit struct {
	Requests     Window
	Tokens       Window
	InputTokens  Window // where the provider counts input tokens apart
	OutputTokens Window // where the provider counts output tokens apart
	// RetryAfter is the server's wait hint (retry-after-ms preferred over
	// retry-after), -1 when absent.
	RetryAfter time.Duration
}

// UnknownWindow is a window the headers said nothing of.
var UnknownWindow = Window{Limit: -1, Remaining: -1, Reset: -1}

// UnknownRateLimit is a RateLimit the headers said nothing of.
func UnknownRateLimit() RateLimit {
	return RateLimit{Requests: UnknownWindow, Tokens: UnknownWindow, InputTokens: UnknownWindow, OutputTokens: UnknownWindow, RetryAfter: -1}
}
