package executor

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// WindowKind names the provider window an AdaptiveLimiter follows.
type WindowKind int

const (
	// Requests follows the requests window; each task spends 1.
	Requests WindowKind = iota
	// Tokens follows the tokens window; each task spends its Cost.
	Tokens
)

func (k WindowKind) String() string {
	if k == Tokens {
		return "tokens"
	}
	return "requests"
}

// AdaptiveConfig configures an AdaptiveLimiter.
type AdaptiveConfig struct {
	Window WindowKind
	// Rate is the configured ceiling per second and Burst the bucket size.
	Rate  float64
	Burst int
	// Min is the floor the rate never drops below (default Rate/100).
	Min float64
	// Safety scales the rate the headers allow (default 0.9), leaving room
	// for other clients of the same key.
	Safety float64
}

// AdaptiveLimiter is a token bucket whose rate follows a provider's
// rate-limit headers. Observe lowers the rate to remaining/time-until-reset
// × Safety (never below Min), drains the bucket and pauses all admission
// until the reset when the window is exhausted or a Retry-After arrives
// (restarting, when the headers give the window's limit, at limit/reset ×
// Safety), and climbs back toward Rate, halving the gap per observation,
// while headers show room. Safe for concurrent use.
type AdaptiveLimiter struct {
	cfg   AdaptiveConfig
	lim   *rate.Limiter
	mu    sync.Mutex
	until time.Time // admission paused until then
}

// NewAdaptiveLimiter validates cfg and builds the limiter at its full rate.
func NewAdaptiveLimiter(cfg AdaptiveConfig) (*AdaptiveLimiter, error) {
	if cfg.Min == 0 {
		cfg.Min = cfg.Rate / 100
	}
	if cfg.Safety == 0 {
		cfg.Safety = 0.9
	}
	var errs []error
	if cfg.Window != Requests && cfg.Window != Tokens {
		errs = append(errs, fmt.Errorf("window: unknown kind %d", int(cfg.Window)))
	}
	if !(cfg.Rate > 0) {
		errs = append(errs, fmt.Errorf("rate: must be > 0, got %v", cfg.Rate))
	}
	if cfg.Burst < 1 {
		errs = append(errs, fmt.Errorf("burst: must be >= 1, got %d", cfg.Burst))
	}
	if !(cfg.Min > 0) || cfg.Min > cfg.Rate {
		errs = append(errs, fmt.Errorf("min: must be > 0 and <= rate, got %v", cfg.Min))
	}
	if !(cfg.Safety > 0 && cfg.Safety <= 1) {
		errs = append(errs, fmt.Errorf("safety: must be in (0, 1], got %v", cfg.Safety))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &AdaptiveLimiter{cfg: cfg, lim: rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst)}, nil
}

// Window is the provider window the limiter follows.
func (a *AdaptiveLimiter) Window() WindowKind { return a.cfg.Window }

// Limit is the current rate per second.
func (a *AdaptiveLimiter) Limit() float64 { return float64(a.lim.Limit()) }

// PausedUntil is the time admission resumes; zero or past when not paused.
func (a *AdaptiveLimiter) PausedUntil() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.until
}

// Observe adapts to a response's headers.
func (a *AdaptiveLimiter) Observe(h http.Header) { a.ObserveAt(time.Now(), h) }

// ObserveAt is Observe at an explicit time.
func (a *AdaptiveLimiter) ObserveAt(now time.Time, h http.Header) {
	a.ObserveRateLimit(now, ParseRateLimit(h, now))
}

// ObserveRateLimit adapts to already parsed headers.
func (a *AdaptiveLimiter) ObserveRateLimit(now time.Time, rl RateLimit) {
	w := rl.Requests
	if a.cfg.Window == Tokens {
		w = rl.Tokens
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if rl.RetryAfter >= 0 {
		a.pauseLocked(now, now.Add(rl.RetryAfter))
	}
	switch {
	case w.Remaining == 0 && w.Reset > 0:
		a.pauseLocked(now, now.Add(w.Reset))
		if w.Limit > 0 {
			// After the pause the window holds its limit again: restart at
			// the rate that spends it over the time it took to refill,
			// not at whatever low rate the emptying window had led to.
			restart := float64(w.Limit) / w.Reset.Seconds() * a.cfg.Safety
			a.lim.SetLimitAt(now, rate.Limit(min(max(restart, a.cfg.Min), a.cfg.Rate)))
		}
	case w.Remaining > 0 && w.Reset > 0:
		allowed := float64(w.Remaining) / w.Reset.Seconds() * a.cfg.Safety
		target := min(max(allowed, a.cfg.Min), a.cfg.Rate)
		cur := float64(a.lim.Limit())
		next := target
		if target > cur {
			// Climb gradually: the window may refill for others too.
			next = cur + (target-cur)/2
			if target-next < target/100 {
				next = target
			}
		}
		if next != cur {
			a.lim.SetLimitAt(now, rate.Limit(next))
		}
	}
}

// pauseLocked holds admission until t and empties the bucket so no burst
// goes out the moment the pause ends early.
func (a *AdaptiveLimiter) pauseLocked(now, t time.Time) {
	if t.After(a.until) {
		a.until = t
	}
	if n := int(a.lim.TokensAt(now)); n > 0 {
		a.lim.AllowN(now, n)
	}
}

func (a *AdaptiveLimiter) heldUntil() time.Time { return a.PausedUntil() }

func (a *AdaptiveLimiter) reserve(now time.Time, _ string, cost int) (*rate.Reservation, error) {
	n := 1
	if a.cfg.Window == Tokens {
		if n = cost; n == 0 {
			return nil, nil
		}
	}
	return reserveN(a.lim, now, n, "adaptive limiter")
}
