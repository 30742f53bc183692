package executor

import (
	"math"
	"time"

	"github.com/khive-go/khive/internal/fielderr"
)

// Config sizes a Pool: its name and its Limits. The zero value is valid:
// unlimited concurrency, no rate limits. In YAML the limits sit beside the
// name (`name: fan-out` and `max_concurrency: 4` at one level).
type Config struct {
	// Name identifies the pool in logs and errors.
	Name   string `yaml:"name" json:"name"`
	Limits `yaml:",inline"`
}

// Validate reports every invalid limit at once, each error naming its field.
func (c Config) Validate() error { return c.Limits.Validate() }

// Limits are the concurrency and rate limits of a Pool, and of an endpoint:
// endpoint.Limits is this type, and an endpoint's pool runs with its
// limits. The zero value is valid: unlimited concurrency, no rate limits.
type Limits struct {
	// MaxConcurrency bounds the tasks running at once (for an endpoint:
	// calls and open streams); 0 means unlimited.
	MaxConcurrency int `yaml:"max_concurrency" json:"max_concurrency"`
	// QueueSize is how many admitted tasks may wait for a running slot (or a
	// rate limit) beyond MaxConcurrency. It needs MaxConcurrency > 0.
	QueueSize int `yaml:"queue_size" json:"queue_size"`
	// BlockWhenFull makes submissions wait, honouring ctx and MaxWait, when
	// the queue is full, instead of failing at once with ErrQueueFull.
	BlockWhenFull bool `yaml:"block_when_full" json:"block_when_full"`
	// RequestsPerSecond or RequestsPerMinute (one of them) limits how often
	// tasks start; 0 means no limit. Burst is the bucket size and must be at
	// least 1 when a rate is set.
	RequestsPerSecond float64 `yaml:"requests_per_second" json:"requests_per_second"`
	RequestsPerMinute float64 `yaml:"requests_per_minute" json:"requests_per_minute"`
	Burst             int     `yaml:"burst" json:"burst"`
	// TokensPerMinute limits the tokens tasks spend (see Cost); 0 means no
	// limit. TokenBurst is the bucket size; 0 means one minute's worth.
	TokensPerMinute float64 `yaml:"tokens_per_minute" json:"tokens_per_minute"`
	TokenBurst      int     `yaml:"token_burst" json:"token_burst"`
	// MaxWait bounds the time a submission may wait for its rate limits, a
	// running slot and (with BlockWhenFull) queue space; beyond it the
	// submission is refused with an *OverloadError saying when capacity is
	// expected. A rate-limit wait is decided when the task reserves: over
	// 90 % of MaxWait it is refused at once, its tokens given back (the rest
	// is room for an adaptive limiter's corrections). Negative means no
	// bound but the submitter's ctx; 0 means the owner's default: no bound
	// for a Pool, endpoint.DefaultMaxWait (10 s) for an endpoint.
	MaxWait time.Duration `yaml:"max_wait" json:"max_wait"`
	// Adaptive makes the pool learn the provider's bucket from the
	// rate-limit headers given to Lease.Observe (size, refill, what is
	// left) and admit what it holds, requests and tokens, pausing on
	// Retry-After: see AdaptiveLimiters. The configured rates, when set,
	// are then ceilings it never exceeds and the rates it uses until the
	// first headers arrive; without them it admits freely until then,
	// bounded only by MaxConcurrency.
	Adaptive bool `yaml:"adaptive" json:"adaptive"`
	// AdaptiveSafety is the share of the provider's bucket an adaptive
	// pool claims (0 means 0.9): it admits at that share of the refill
	// rate and leaves the rest of the bucket, at least one request, unspent.
	AdaptiveSafety float64 `yaml:"adaptive_safety" json:"adaptive_safety"`
}

// AdaptiveLimiters builds the adaptive limiters of Limits with Adaptive
// set: one for the request window and one for the token window, with the
// configured rates as ceilings. New builds them itself; an owner that
// needs them before the pool exists (to share out a provider's bucket
// with SetShare) builds them here and hands them to New with
// WithAdaptiveLimiter. Without Adaptive it returns nil.
func (l Limits) AdaptiveLimiters() ([]*AdaptiveLimiter, error) {
	if !l.Adaptive {
		return nil, nil
	}
	var out []*AdaptiveLimiter
	for _, w := range []AdaptiveConfig{
		{Window: Requests, Rate: l.RequestRate(), Burst: l.Burst, Safety: l.AdaptiveSafety},
		{Window: Tokens, Rate: l.TokensPerMinute / 60, Burst: l.tokenBurst(), Safety: l.AdaptiveSafety},
	} {
		a, err := NewAdaptiveLimiter(w)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Validate reports every invalid field at once, each error naming its field.
func (l Limits) Validate() error {
	var errs fielderr.List
	bad := errs.Add
	if l.MaxConcurrency < 0 {
		bad("max_concurrency", "must be >= 0, got %d", l.MaxConcurrency)
	}
	if l.QueueSize < 0 {
		bad("queue_size", "must be >= 0, got %d", l.QueueSize)
	}
	if l.QueueSize > 0 && l.MaxConcurrency == 0 {
		bad("queue_size", "needs max_concurrency > 0 (with unlimited concurrency nothing waits for a slot)")
	}
	checkRate := func(field string, v float64) {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			bad(field, "must be a finite number >= 0, got %v", v)
		}
	}
	checkRate("requests_per_second", l.RequestsPerSecond)
	checkRate("requests_per_minute", l.RequestsPerMinute)
	checkRate("tokens_per_minute", l.TokensPerMinute)
	if l.RequestsPerSecond > 0 && l.RequestsPerMinute > 0 {
		bad("requests_per_minute", "set only one of requests_per_second and requests_per_minute")
	}
	if l.Burst < 0 {
		bad("burst", "must be >= 0, got %d", l.Burst)
	} else if l.Burst == 0 && l.RequestRate() > 0 {
		bad("burst", "must be >= 1 when a request rate is set")
	}
	if s := l.AdaptiveSafety; s < 0 || s > 1 || math.IsNaN(s) {
		bad("adaptive_safety", "must be in (0, 1], got %v", s)
	}
	if l.TokenBurst < 0 {
		bad("token_burst", "must be >= 0, got %d", l.TokenBurst)
	}
	if l.TokensPerMinute > 0 && l.tokenBurst() < 1 {
		bad("token_burst", "must be >= 1 when tokens_per_minute is set")
	}
	return errs.Err()
}

// RequestRate is the configured request rate per second (from
// RequestsPerSecond or RequestsPerMinute), 0 for none.
func (l Limits) RequestRate() float64 {
	if l.RequestsPerMinute > 0 {
		return l.RequestsPerMinute / 60
	}
	return l.RequestsPerSecond
}

func (l Limits) tokenBurst() int {
	if l.TokenBurst > 0 {
		return l.TokenBurst
	}
	return int(l.TokensPerMinute)
}

// capacity is how many tasks may be admitted at once; 0 means unbounded.
func (l Limits) capacity() int {
	if l.MaxConcurrency == 0 {
		return 0
	}
	return l.MaxConcurrency + l.QueueSize
}
