package executor

import (
	"math"
	"time"
)

// Config sizes a Pool. The zero value is valid: unlimited concurrency, no
// rate limits.
type Config struct {
	// Name identifies the pool in logs and errors.
	Name string `yaml:"name" json:"name"`
	// MaxConcurrency bounds the tasks running at once; 0 means unlimited.
	MaxConcurrency int `yaml:"max_concurrency" json:"max_concurrency"`
	// QueueSize is how many admitted tasks may wait for a running slot (or a
	// rate limit) beyond MaxConcurrency. It needs MaxConcurrency > 0.
	QueueSize int `yaml:"queue_size" json:"queue_size"`
	// BlockWhenFull makes Go and Run wait, honouring ctx, when the queue is
	// full, instead of failing at once with ErrQueueFull.
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
	// submission is refused with an *OverloadError. A rate-limit wait is
	// decided when the task reserves: over 90 % of MaxWait it is refused at
	// once (the rest is room for an adaptive limiter's corrections). 0 means
	// no bound but the submitter's ctx.
	MaxWait time.Duration `yaml:"max_wait" json:"max_wait"`
}

// Validate reports every invalid field at once, each error naming its field.
func (c Config) Validate() error {
	var errs FieldErrors
	bad := errs.Add
	if c.MaxConcurrency < 0 {
		bad("max_concurrency", "must be >= 0, got %d", c.MaxConcurrency)
	}
	if c.QueueSize < 0 {
		bad("queue_size", "must be >= 0, got %d", c.QueueSize)
	}
	if c.QueueSize > 0 && c.MaxConcurrency == 0 {
		bad("queue_size", "needs max_concurrency > 0 (with unlimited concurrency nothing waits for a slot)")
	}
	checkRate := func(field string, v float64) {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			bad(field, "must be a finite number >= 0, got %v", v)
		}
	}
	checkRate("requests_per_second", c.RequestsPerSecond)
	checkRate("requests_per_minute", c.RequestsPerMinute)
	checkRate("tokens_per_minute", c.TokensPerMinute)
	if c.RequestsPerSecond > 0 && c.RequestsPerMinute > 0 {
		bad("requests_per_minute", "set only one of requests_per_second and requests_per_minute")
	}
	if c.Burst < 0 {
		bad("burst", "must be >= 0, got %d", c.Burst)
	} else if c.Burst == 0 && c.requestRate() > 0 {
		bad("burst", "must be >= 1 when a request rate is set")
	}
	if c.MaxWait < 0 {
		bad("max_wait", "must be >= 0, got %v", c.MaxWait)
	}
	if c.TokenBurst < 0 {
		bad("token_burst", "must be >= 0, got %d", c.TokenBurst)
	}
	if c.TokensPerMinute > 0 && c.tokenBurst() < 1 {
		bad("token_burst", "must be >= 1 when tokens_per_minute is set")
	}
	return errs.Err()
}

// requestRate is the configured request rate per second, 0 for none.
func (c Config) requestRate() float64 {
	if c.RequestsPerMinute > 0 {
		return c.RequestsPerMinute / 60
	}
	return c.RequestsPerSecond
}

func (c Config) tokenBurst() int {
	if c.TokenBurst > 0 {
		return c.TokenBurst
	}
	return int(c.TokensPerMinute)
}

// capacity is how many tasks may be admitted at once; 0 means unbounded.
func (c Config) capacity() int {
	if c.MaxConcurrency == 0 {
		return 0
	}
	return c.MaxConcurrency + c.QueueSize
}
