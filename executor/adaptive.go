package executor

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/khive-go/khive/internal/fielderr"
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
	// Rate (per second) and Burst are the ceiling: the limiter never admits
	// faster, and admits at that rate until the provider's headers have
	// taught it the provider's bucket. Rate 0 means no ceiling: until the
	// first headers arrive nothing is held back (concurrency still is).
	Rate  float64
	Burst int
	// Safety is the share of the provider's bucket this limiter claims
	// (default 0.9): it refills its estimate at Safety × the learned refill
	// rate and leaves (1 − Safety) × the bucket's size, at least one unit,
	// unspent, so it never drives the provider's bucket to zero by itself.
	Safety float64
}

// AdaptiveLimiter learns a provider's rate-limit bucket from its response
// headers and admits what that bucket holds. For each window it keeps the
// bucket's size (the header's limit), its refill rate (for token buckets:
// (limit − remaining) / time-until-full) or, for fixed windows,
// the instant it refills, and an estimate of what is left. Each answer's
// remaining count replaces the estimate, less what was sent and not yet
// answered (those the provider has not counted yet). A Retry-After pauses
// admission for the hint; afterwards it resumes at the learned rate.
// Token windows admit with a task's estimated Cost and are corrected by the
// usage the answer reports.
//
// Reservations that cannot be granted at once wait in one queue, first come
// first served, and the head is released when the estimate holds what it
// asks for. A reservation's wait (DelayFrom) is a forecast at the learned
// rate, for max_wait; the release itself follows the estimate, which each
// answer corrects. (A schedule fixed when each reservation was made, moved
// as a whole by each correction, overran the provider's bucket once the
// queue was seconds long: moves earlier released requests that a later
// correction could not recall.)
//
// Feed answers through a Lease (Lease.Observe), or call ObserveRateLimit
// for answers that did not go through the pool. Safe for concurrent use.
type AdaptiveLimiter struct {
	cfg AdaptiveConfig

	mu      sync.Mutex
	learned bool      // headers have given the bucket's size or level
	size    float64   // the provider bucket's size; +Inf when unknown
	refill  float64   // learned refill per second; 0 when unknown
	missing float64   // decayed sum of (limit − remaining) over samples
	toFull  float64   // decayed sum of their resets, in seconds
	tokens  float64   // what may still be sent; negative: reserved ahead
	last    time.Time // tokens are as of last
	resetAt time.Time // fixed window (or unknown refill): refills whole then
	period  time.Duration
	until   time.Time // admission paused until then
	sent    float64   // released (sent or about to be), not yet answered
	share   float64   // this process's part of the bucket (SetShare); 0 = all

	// The queue: reservations not released yet, first come first served.
	// The head is released when the estimate holds what it asks for, so
	// a correction moves only the head's time, never a schedule of
	// hundreds made at an old estimate. enq and deq count what entered
	// and left the queue; a reservation's end (enq after it entered) less
	// deq is what must be released before it and with it.
	queue    []*adaptiveReservation
	enq, deq int64
}

// NewAdaptiveLimiter validates cfg and builds the limiter.
func NewAdaptiveLimiter(cfg AdaptiveConfig) (*AdaptiveLimiter, error) {
	if cfg.Safety == 0 {
		cfg.Safety = 0.9
	}
	var errs fielderr.List
	if cfg.Window != Requests && cfg.Window != Tokens {
		errs.Add("window", "unknown kind %d", int(cfg.Window))
	}
	if cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) {
		errs.Add("rate", "must be a finite number >= 0, got %v", cfg.Rate)
	}
	if cfg.Burst < 0 || (cfg.Rate > 0 && cfg.Burst < 1) {
		errs.Add("burst", "must be >= 1 with a rate, got %d", cfg.Burst)
	}
	if !(cfg.Safety > 0 && cfg.Safety <= 1) {
		errs.Add("safety", "must be in (0, 1], got %v", cfg.Safety)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	a := &AdaptiveLimiter{cfg: cfg, size: math.Inf(1)}
	a.tokens = a.capacity()
	return a, nil
}

// Window is the provider window the limiter follows.
func (a *AdaptiveLimiter) Window() WindowKind { return a.cfg.Window }

// Limit is the rate per second at which the limiter admits now: the
// learned refill × Safety (capped by the ceiling), the ceiling before
// anything was learned, +Inf when there is neither.
func (a *AdaptiveLimiter) Limit() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rate()
}

// Size is the provider bucket's learned size, 0 when unknown.
func (a *AdaptiveLimiter) Size() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if math.IsInf(a.size, 1) {
		return 0
	}
	return a.size
}

// Refill is the provider bucket's learned refill per second, 0 when unknown.
func (a *AdaptiveLimiter) Refill() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refill
}

// PausedUntil is the time admission resumes; zero or past when not paused.
func (a *AdaptiveLimiter) PausedUntil() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.until
}

// ObserveRateLimit adapts to what an answer that did not go through a Lease
// said of the provider's limits (package ratelimit reads the headers).
func (a *AdaptiveLimiter) ObserveRateLimit(now time.Time, rl RateLimit) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.observeLocked(now, rl)
}

// SetShare makes the limiter claim part f (in (0, 1]) of the provider's
// bucket: its rate, its size and what the headers say is left, times f.
// Several processes calling one provider with one key each set 1/their
// number, so that together they claim what one would. The default is 1.
func (a *AdaptiveLimiter) SetShare(f float64) {
	if !(f > 0 && f <= 1) {
		f = 1
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.share = f
}

// part is the share claimed: 1 unless SetShare said otherwise.
func (a *AdaptiveLimiter) part() float64 {
	if a.share == 0 {
		return 1
	}
	return a.share
}

// rate is the refill of the estimate per second.
func (a *AdaptiveLimiter) rate() float64 {
	switch {
	case a.refill > 0 && a.cfg.Rate > 0:
		return min(a.refill*a.cfg.Safety, a.cfg.Rate) * a.part()
	case a.refill > 0:
		return a.refill * a.cfg.Safety * a.part()
	case a.learned:
		return 0 // the level is known, the refill not (yet): wait for resetAt
	case a.cfg.Rate > 0:
		return a.cfg.Rate * a.part()
	}
	return math.Inf(1)
}

// capacity is the most the estimate may hold: the bucket less the margin
// left to others, or the ceiling's burst before anything was learned.
func (a *AdaptiveLimiter) capacity() float64 {
	switch {
	case a.learned:
		return (a.size - a.margin()) * a.part()
	case a.cfg.Rate > 0:
		return max(1, float64(a.cfg.Burst)*a.part())
	}
	return math.Inf(1)
}

func (a *AdaptiveLimiter) margin() float64 {
	if math.IsInf(a.size, 1) {
		return 1
	}
	return max(1, math.Ceil((1-a.cfg.Safety)*a.size))
}

// advanceLocked brings tokens to now: continuous refill, or a whole refill
// at resetAt.
func (a *AdaptiveLimiter) advanceLocked(now time.Time) {
	if now.Before(a.until) {
		return // nothing accrues during a pause
	}
	from := a.last
	if a.until.After(from) {
		from = a.until
	}
	if !a.resetAt.IsZero() && !now.Before(a.resetAt) {
		if math.IsInf(a.size, 1) {
			a.forgetLocked() // refilled to an unknown size: back to the ceiling
		} else {
			a.tokens = max(a.tokens, a.capacity()-a.sent)
		}
		last := a.resetAt
		a.resetAt = time.Time{}
		if a.period > 0 && a.refill == 0 {
			a.resetAt = nextReset(now, last, a.period)
		}
		from = now
	}
	if r := a.rate(); r > 0 && now.After(from) {
		a.tokens += r * now.Sub(from).Seconds()
	}
	a.last = now
	if c := a.capacity() - max(a.sent, 0); a.tokens > c {
		a.tokens = max(c, min(a.tokens, 0))
	}
}

// nextReset is the first reset after now of a window of period that last
// reset at last.
func nextReset(now, last time.Time, period time.Duration) time.Time {
	t := last.Add(period)
	for !t.After(now) {
		t = t.Add(period)
	}
	return t
}

// forgetLocked drops what was learned: the ceiling applies again.
func (a *AdaptiveLimiter) forgetLocked() {
	a.learned, a.size, a.refill, a.period = false, math.Inf(1), 0, 0
	a.missing, a.toFull = 0, 0
	a.tokens = min(a.capacity(), a.capacity()-a.sent)
}

// observeLocked learns from one answer's headers.
func (a *AdaptiveLimiter) observeLocked(now time.Time, rl RateLimit) {
	a.advanceLocked(now)
	w := rl.Requests
	if a.cfg.Window == Tokens {
		w = rl.Tokens
	}
	if w.Limit > 0 {
		a.size, a.learned = float64(w.Limit), true
	}
	if w.Reset > 0 {
		if w.Fixed {
			a.refill = 0
			a.resetAt = now.Add(w.Reset)
			a.period = max(a.period, w.Reset)
		} else if w.Limit > 0 && w.Remaining >= 0 && w.Remaining <= w.Limit-2 {
			// A ratio of decayed sums, not an average of ratios: remaining
			// is a whole number, so a bucket that is nearly full gives a
			// sample that can be off many times over; weighting each by its
			// reset lets the informative ones dominate.
			// Remaining is the level rounded down: the level is taken as
			// half a unit more, else a bucket kept nearly empty looks as if
			// it refilled up to a unit faster per reset than it does.
			// A bucket one unit short of full says the level is anywhere
			// in that unit, twice off either way: such samples are left
			// out (with varying latencies they pulled the refill learned
			// of a 50/s bucket down to 27-32/s).
			const keep = 0.75
			a.missing = a.missing*keep + float64(w.Limit-w.Remaining) - 0.5
			a.toFull = a.toFull*keep + w.Reset.Seconds()
			a.refill = a.missing / a.toFull
			a.resetAt = time.Time{}
		} else if a.refill == 0 {
			a.resetAt = now.Add(w.Reset) // full again by then, refill unknown
		}
	}
	if w.Remaining >= 0 {
		a.learned = true
		left := (float64(w.Remaining) - a.margin()) * a.part()
		if !math.IsInf(a.size, 1) {
			left = min(left, a.capacity())
		}
		a.tokens = left - a.sent
		a.last = now
	}
	if rl.RetryAfter > 0 {
		a.pauseLocked(now, now.Add(rl.RetryAfter))
	}
	if w.Remaining == 0 && w.Reset > 0 && (w.Fixed || a.refill == 0) {
		a.pauseLocked(now, now.Add(w.Reset))
	}
}

// pauseLocked holds admission until t: nothing accrues or is released
// before it.
func (a *AdaptiveLimiter) pauseLocked(now, t time.Time) {
	begin := now
	if a.until.After(now) {
		begin = a.until
	}
	if !t.After(begin) {
		return
	}
	a.until = t
	a.tokens = min(a.tokens, 0)
}

// reserve takes n (1, or the task's cost for a token window) at now: at
// once when nothing is queued and the estimate holds n, else in the queue.
func (a *AdaptiveLimiter) reserve(_ context.Context, now time.Time, _ string, cost int) (Reservation, error) {
	n := 1
	if a.cfg.Window == Tokens {
		if n = cost; n == 0 {
			return nil, nil
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.advanceLocked(now)
	if most := a.maxCostLocked(); float64(n) > most {
		return nil, fmt.Errorf("%w: adaptive limiter cost %d > bucket %v", ErrCostTooHigh, n, most)
	}
	a.pumpLocked(now)
	r := &adaptiveReservation{a: a, n: int64(n)}
	if len(a.queue) == 0 && a.fitsLocked(now, r.n) {
		a.releaseLocked(r)
		return r, nil
	}
	a.enq += r.n
	r.end = a.enq
	a.queue = append(a.queue, r)
	return r, nil
}

// fitsLocked says whether n may be released now.
func (a *AdaptiveLimiter) fitsLocked(now time.Time, n int64) bool {
	// The epsilon absorbs rounding: a forecast wait, slept exactly, accrues
	// what it forecast.
	return !now.Before(a.until) && a.tokens >= float64(n)-1e-9
}

func (a *AdaptiveLimiter) releaseLocked(r *adaptiveReservation) {
	a.tokens -= float64(r.n)
	a.sent += float64(r.n)
	r.state = released
}

// pumpLocked releases the queue's head while the estimate holds it, and
// wakes the waiters released.
func (a *AdaptiveLimiter) pumpLocked(now time.Time) {
	k := 0
	for ; k < len(a.queue) && a.fitsLocked(now, a.queue[k].n); k++ {
		r := a.queue[k]
		a.releaseLocked(r)
		a.deq += r.n
		if r.ready != nil {
			close(r.ready)
		}
	}
	if k > 0 {
		clear(a.queue[:k])
		a.queue = a.queue[k:]
	}
}

// unqueueLocked takes r out of the queue: those behind it move up.
func (a *AdaptiveLimiter) unqueueLocked(r *adaptiveReservation) {
	for i, q := range a.queue {
		if q != r {
			continue
		}
		for _, b := range a.queue[i+1:] {
			b.end -= r.n
		}
		a.enq -= r.n
		last := len(a.queue) - 1
		copy(a.queue[i:], a.queue[i+1:])
		a.queue[last] = nil
		a.queue = a.queue[:last]
		break
	}
	r.state = answered
}

// maxCostLocked is the most one task may spend: the learned bucket, or the
// ceiling's burst.
func (a *AdaptiveLimiter) maxCostLocked() float64 {
	if !a.learned && a.cfg.Rate > 0 {
		return float64(a.cfg.Burst)
	}
	return a.size
}

// dueLocked is when a deficit (what must accrue beyond what the estimate
// holds now) will have been refilled, at the learned rate.
func (a *AdaptiveLimiter) dueLocked(now time.Time, deficit float64) time.Time {
	if a.until.After(now) {
		now = a.until // accrual starts when the pause ends
	}
	if deficit <= 0 {
		return now
	}
	if r := a.rate(); r > 0 && !math.IsInf(r, 1) {
		return now.Add(time.Duration(math.Ceil(deficit / r * float64(time.Second))))
	} else if math.IsInf(r, 1) {
		return now
	}
	// Only whole refills: the deficit is met after enough of them.
	if a.resetAt.IsZero() {
		return now.Add(maxWaitForever)
	}
	due := a.resetAt
	if per := a.capacity(); a.period > 0 && per > 0 && deficit > per {
		due = due.Add(time.Duration(math.Ceil(deficit/per)-1) * a.period)
	}
	return due
}

// maxWaitForever stands for "no refill is known": far enough that any
// max_wait refuses it, short enough not to overflow.
const maxWaitForever = 100 * 365 * 24 * time.Hour

// answer accounts for one reservation's answer: it is no longer in flight;
// a token window is corrected by the usage reported (used >= 0); headers,
// when given, set the estimate.
func (a *AdaptiveLimiter) answer(now time.Time, r *adaptiveReservation, used int, rl *RateLimit) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch r.state {
	case answered:
		return
	case queued:
		a.unqueueLocked(r) // answered without being released: not in flight
	default:
		r.state = answered
		a.sent = max(a.sent-float64(r.n), 0)
		if a.cfg.Window == Tokens && used >= 0 {
			a.advanceLocked(now)
			a.tokens += float64(r.n) - float64(used)
		}
	}
	if rl != nil {
		a.observeLocked(now, *rl)
	}
	a.pumpLocked(now)
}

// The states of an adaptiveReservation.
const (
	queued = iota
	released
	answered // or cancelled
)

// adaptiveReservation is one admission's share of the limiter. Its fields
// but a are guarded by the limiter's mutex.
type adaptiveReservation struct {
	a     *AdaptiveLimiter
	n     int64
	end   int64 // while queued: the limiter's enq once it entered
	state int
	ready chan struct{} // closed when released from the queue; made on demand
}

// DelayFrom is 0 once released; while queued, the forecast of its release
// at the learned rate (the whole queue ahead of it, and any pause).
func (r *adaptiveReservation) DelayFrom(now time.Time) time.Duration {
	a := r.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.state != queued {
		return 0
	}
	a.advanceLocked(now)
	a.pumpLocked(now)
	if r.state != queued {
		return 0
	}
	d := a.dueLocked(now, float64(r.end-a.deq)-a.tokens).Sub(now)
	return max(d, time.Nanosecond) // not released yet: never due
}

// changed is closed when the reservation is released from the queue; nil
// (never) once it is.
func (r *adaptiveReservation) changed() <-chan struct{} {
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	if r.state != queued {
		return nil
	}
	if r.ready == nil {
		r.ready = make(chan struct{})
	}
	return r.ready
}

// CancelAt gives back what was reserved when the task will not be sent.
func (r *adaptiveReservation) CancelAt(now time.Time) {
	a := r.a
	a.mu.Lock()
	defer a.mu.Unlock()
	switch r.state {
	case queued:
		a.unqueueLocked(r)
	case released:
		r.state = answered
		a.advanceLocked(now)
		a.sent = max(a.sent-float64(r.n), 0)
		a.tokens += float64(r.n)
	default:
		return
	}
	a.pumpLocked(now)
}

func (r *adaptiveReservation) needsClock(int) bool {
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	return r.state != answered
}

func (r *adaptiveReservation) settle(now time.Time, used int, rl *RateLimit) {
	r.a.answer(now, r, used, rl)
}
