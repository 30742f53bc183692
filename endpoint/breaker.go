package endpoint

import (
	"sync"
	"time"
)

// BreakerState is a circuit breaker's state.
type BreakerState int

const (
	BreakerClosed   BreakerState = iota // calls flow
	BreakerOpen                         // calls are refused
	BreakerHalfOpen                     // a few trial calls decide
)

func (s BreakerState) String() string {
	switch s {
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "closed"
}

// outcome is what one attempt tells the breaker.
type outcome int

const (
	outcomeSuccess outcome = iota
	outcomeFailure         // 5xx, timeout, connection error
	outcomeIgnore          // the caller's cancellation, 429: says nothing of health
)

// breaker opens after ConsecutiveFailures failures in a row, or when the
// failure rate over a rolling window passes FailureRate with at least
// MinCalls calls; stays open OpenFor; then lets HalfOpenCalls trials
// through. Safe for concurrent use.
type breaker struct {
	cfg      BreakerConfig
	onChange func(from, to BreakerState) // called outside the lock

	mu          sync.Mutex
	state       BreakerState
	consecutive int
	openedAt    time.Time
	trials      int // half-open calls admitted and not yet reported
	trialOK     int // half-open successes so far
	buckets     [10]rateBucket
}

// rateBucket counts calls in one tenth of the window.
type rateBucket struct {
	start     time.Time
	successes int
	failures  int
}

func newBreaker(cfg BreakerConfig, onChange func(from, to BreakerState)) *breaker {
	return &breaker{cfg: cfg, onChange: onChange}
}

// State is the breaker's state now.
func (b *breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerOpen && !time.Now().Before(b.openedAt.Add(b.cfg.OpenFor)) {
		return BreakerHalfOpen // what the next call would see
	}
	return b.state
}

// allow admits a call as of now (the caller's clock reading, shared with
// the attempt it admits), or returns how long the circuit stays open. An
// admitted call must be reported with done.
func (b *breaker) allow(now time.Time) (remaining time.Duration, ok bool) {
	b.mu.Lock()
	from := b.state
	switch b.state {
	case BreakerOpen:
		reopen := b.openedAt.Add(b.cfg.OpenFor)
		if now.Before(reopen) {
			b.mu.Unlock()
			return reopen.Sub(now), false
		}
		b.state, b.trials, b.trialOK = BreakerHalfOpen, 0, 0
		fallthrough
	case BreakerHalfOpen:
		if b.trials >= b.cfg.HalfOpenCalls {
			b.mu.Unlock()
			return 0, false
		}
		b.trials++
	}
	to := b.state
	b.mu.Unlock()
	b.changed(from, to)
	return 0, true
}

// done reports an admitted call's outcome as of now.
func (b *breaker) done(now time.Time, o outcome) {
	b.mu.Lock()
	from := b.state
	switch b.state {
	case BreakerHalfOpen:
		b.trials--
		switch o {
		case outcomeFailure:
			b.openLocked(now)
		case outcomeSuccess:
			if b.trialOK++; b.trialOK >= b.cfg.HalfOpenCalls {
				b.state, b.consecutive = BreakerClosed, 0
				b.buckets = [10]rateBucket{}
			}
		}
	case BreakerClosed:
		switch o {
		case outcomeFailure:
			b.consecutive++
			b.bucket(now).failures++
			if b.consecutive >= b.cfg.ConsecutiveFailures || b.rateExceeded(now) {
				b.openLocked(now)
			}
		case outcomeSuccess:
			b.consecutive = 0
			b.bucket(now).successes++
		}
	}
	to := b.state
	b.mu.Unlock()
	b.changed(from, to)
}

func (b *breaker) openLocked(now time.Time) {
	b.state, b.openedAt, b.consecutive = BreakerOpen, now, 0
}

func (b *breaker) changed(from, to BreakerState) {
	if from != to && b.onChange != nil {
		b.onChange(from, to)
	}
}

// bucket returns the bucket for now, recycling a stale one.
func (b *breaker) bucket(now time.Time) *rateBucket {
	width := max(int64(b.cfg.Window)/int64(len(b.buckets)), 1)
	n := now.UnixNano() / width
	start := time.Unix(0, n*width)
	bk := &b.buckets[n%int64(len(b.buckets))]
	if !bk.start.Equal(start) {
		*bk = rateBucket{start: start}
	}
	return bk
}

func (b *breaker) rateExceeded(now time.Time) bool {
	if b.cfg.FailureRate <= 0 {
		return false
	}
	var ok, failed int
	for _, bk := range b.buckets {
		if now.Sub(bk.start) < b.cfg.Window {
			ok += bk.successes
			failed += bk.failures
		}
	}
	total := ok + failed
	return total >= b.cfg.MinCalls && float64(failed) >= b.cfg.FailureRate*float64(total)
}
