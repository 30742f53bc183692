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
// the instant it refills, and an estimate of what is left. Providers count
// a request when it arrives, so an answer's remaining count is the bucket
// just after its own request: the estimate is corrected by how far it was
// off at that moment, whatever went out since, and however late or out of
// order answers come back. (Answers to requests sent elsewhere, given to
// ObserveRateLimit, set the estimate less what was sent and not yet
// answered.) A Retry-After pauses admission for the hint; afterwards it
// resumes at the learned rate.
// Token windows admit with a task's estimated Cost and are corrected by the
// usage the answer reports.
//
// Reservations that cannot be granted at once wait in one queue, first come
// first served, and the head is released when the estimate holds what it
// asks for. A reservation's wait (DelayFrom) is a forecast at the learned
// rate, for max_wait; the release itself follows the estimate, which each
// answer corrects; the queue goes out one at a time, spaced at the rate.
// (A schedule fixed when each reservation was made, moved as a whole by
// each correction, overran the provider's bucket once the queue was
// seconds long: moves earlier released requests that a later correction
// could not recall.)
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
	tokens  float64   // what may still be sent; negative: a deficit
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
	// frame is the sum of the corrections answers made to the estimate.
	frame float64
	// timer releases the head when it comes due; nil until needed.
	timer *time.Timer
	// paced is the earliest the queue's head may go: released from the
	// queue one at a time, spaced at the rate, requests reach the
	// provider in the order they were released, so each answer knows
	// which of them it has counted (released at once, a dozen would
	// arrive in any order, and answers would count those arriving first
	// twice).
	paced time.Time
	// minTrip is the fastest round trip seen, from release to answer.
	minTrip time.Duration
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
	a.observeLocked(now, rl, nil)
	a.pumpLocked(now)
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
	case a.learned && (a.resetAt.IsZero() && a.cfg.Rate > 0):
		return a.cfg.Rate * a.part() // the level is known, the refill not (yet): the ceiling
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
// at resetAt. A now before the last one (a caller that read the clock
// before another took the lock) adds nothing: moving last back would
// count that interval's refill twice.
func (a *AdaptiveLimiter) advanceLocked(now time.Time) {
	if now.Before(a.until) || now.Before(a.last) {
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
	// The provider's bucket refills to full while requests it counted on
	// arrival are still being answered: the cap is the capacity alone.
	if c := a.capacity(); a.tokens > c {
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

// observeLocked learns from one answer's headers. r, when known, is the
// reservation of the request answered: its remaining count is as of that
// request's arrival, after everything released before it and nothing
// released after it (providers count a request when it arrives).
func (a *AdaptiveLimiter) observeLocked(now time.Time, rl RateLimit, r *adaptiveReservation) {
	a.advanceLocked(now)
	if r != nil && !r.at.IsZero() {
		if trip := now.Sub(r.at); trip >= 0 && (a.minTrip == 0 || trip < a.minTrip) {
			a.minTrip = trip
		}
	}
	w := rl.Requests
	if a.cfg.Window == Tokens {
		w = rl.Tokens
	}
	if w.Limit > 0 {
		a.size, a.learned = float64(w.Limit), true
	}
	// A reset given as an instant is measured from when the provider
	// counted the request, not from the answer, which may have taken
	// seconds: from the answer, the refill is learned too fast by the
	// answer's latency over the reset, and an answer slower than the reset
	// teaches nothing at all (its instant has passed). That moment is after
	// the release by half the fastest round trip seen.
	reset := w.Reset
	if r != nil && !w.ResetAt.IsZero() && !r.at.IsZero() && !w.Fixed {
		reset = max(w.ResetAt.Sub(r.at.Add(a.minTrip/2)), 0)
	}
	if reset > 0 {
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
			a.toFull = a.toFull*keep + reset.Seconds()
			a.refill = a.missing / a.toFull
			a.resetAt = time.Time{}
		} else if a.refill == 0 && w.Reset > 0 {
			a.resetAt = now.Add(w.Reset) // full again by then, refill unknown
		}
	}
	if w.Remaining >= 0 {
		a.learned = true
		left := (float64(w.Remaining) - a.margin()) * a.part()
		if !math.IsInf(a.size, 1) {
			left = min(left, a.capacity())
		}
		if r == nil || math.IsNaN(r.mark) {
			// Whose answer is unknown (or the estimate was unbounded when
			// it went out): what was sent and not answered may not be
			// counted yet.
			a.setLocked(left - a.sent)
		} else {
			// The estimate as it was just after r was released, in
			// today's terms, should have been left: it moves by the
			// difference, and so does everything the estimate did since
			// (refill, later releases). Answers out of order, or slow
			// ones, each correct from their own request's moment.
			a.setLocked(a.tokens + left - (r.mark + a.frame))
		}
	}
	if rl.RetryAfter > 0 {
		a.pauseLocked(now, now.Add(rl.RetryAfter))
	}
	if w.Remaining == 0 && w.Reset > 0 && (w.Fixed || a.refill == 0) {
		a.pauseLocked(now, now.Add(w.Reset))
	}
}

// setLocked sets the estimate to t, at most its capacity, and keeps the
// sum of such moves (frame), in which reservations mark the estimate as it
// was when they were released.
func (a *AdaptiveLimiter) setLocked(t float64) {
	t = min(t, a.capacity())
	if math.IsInf(a.tokens, 0) || math.IsNaN(a.frame) {
		a.frame = 0 // unbounded until now: a new frame
	} else {
		a.frame += t - a.tokens
	}
	a.tokens = t
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
	a.setLocked(min(a.tokens, 0))
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
		a.releaseLocked(r, now)
		return r, nil
	}
	a.enq += r.n
	r.end = a.enq
	a.queue = append(a.queue, r)
	if len(a.queue) == 1 {
		a.armLocked(now)
	}
	return r, nil
}

// fitsLocked says whether n may be released now.
func (a *AdaptiveLimiter) fitsLocked(now time.Time, n int64) bool {
	// The epsilon absorbs rounding: a forecast wait, slept exactly, accrues
	// what it forecast.
	return !now.Before(a.until) && a.tokens >= float64(n)-1e-9
}

func (a *AdaptiveLimiter) releaseLocked(r *adaptiveReservation, now time.Time) {
	a.tokens -= float64(r.n)
	a.sent += float64(r.n)
	r.at = now
	r.mark = math.NaN()
	if !math.IsInf(a.tokens, 0) {
		r.mark = a.tokens - a.frame
	}
	if pace := a.paceLocked(); pace > 0 && !math.IsInf(pace, 1) {
		a.paced = now.Add(time.Duration(float64(r.n) / pace * float64(time.Second)))
	}
	r.state = released
}

// pumpLocked releases the queue's head while the estimate holds it, wakes
// the waiters released, and sets the timer for the next head.
func (a *AdaptiveLimiter) pumpLocked(now time.Time) {
	defer a.armLocked(now)
	k := 0
	for ; k < len(a.queue) && !now.Before(a.paced) && a.fitsLocked(now, a.queue[k].n); k++ {
		r := a.queue[k]
		a.releaseLocked(r, now)
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

// armLocked sets the timer to the queue's head's due time, so that the
// head is released when the estimate holds it whether or not its waiter,
// sleeping on an older forecast, wakes then; an empty queue stops it.
func (a *AdaptiveLimiter) armLocked(now time.Time) {
	if len(a.queue) == 0 {
		if a.timer != nil {
			a.timer.Stop()
		}
		return
	}
	d := a.forecastLocked(now, a.queue[0]).Sub(now)
	if d >= maxWaitForever/2 {
		return // no refill known: an answer or a reset will say
	}
	if !(d > 0) {
		// Due by the forecast, yet the pump just left it: rounding, or an
		// estimate gone wrong. Look again shortly rather than spin.
		d = time.Millisecond
	}
	if a.timer == nil {
		a.timer = time.AfterFunc(d, a.tick)
		return
	}
	a.timer.Reset(d)
}

// tick is the timer's: the head is due.
func (a *AdaptiveLimiter) tick() {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.advanceLocked(now)
	a.pumpLocked(now)
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

// paceLocked is the rate at which the queue goes out: the provider's own
// refill (this process's share of it, under the ceiling), so that the
// spacing keeps the order without holding the rate below what the
// estimate allows; the estimate's rate before the refill is known.
func (a *AdaptiveLimiter) paceLocked() float64 {
	if a.refill <= 0 {
		return a.rate()
	}
	pace := a.refill
	if a.cfg.Rate > 0 {
		pace = min(pace, a.cfg.Rate)
	}
	return pace * a.part()
}

// forecastLocked is when queued r is expected to be released: when the
// estimate holds what the queue asks for up to r, and not before the
// queue's pace lets r go.
func (a *AdaptiveLimiter) forecastLocked(now time.Time, r *adaptiveReservation) time.Time {
	ahead := float64(r.end - a.deq)
	due := a.dueLocked(now, ahead-a.tokens)
	if pace := a.paceLocked(); a.paced.After(now) && pace > 0 && !math.IsInf(pace, 1) {
		paced := a.paced.Add(time.Duration((ahead - float64(a.queue[0].n)) / pace * float64(time.Second)))
		if paced.After(due) {
			due = paced
		}
	}
	return due
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
		r = nil
	default:
		r.state = answered
		a.sent = max(a.sent-float64(r.n), 0)
		if a.cfg.Window == Tokens && used >= 0 {
			a.advanceLocked(now)
			a.tokens += float64(r.n) - float64(used)
		}
	}
	if rl != nil {
		a.observeLocked(now, *rl, r)
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
	end   int64     // while queued: the limiter's enq once it entered
	mark  float64   // once released: the estimate then, less the frame
	at    time.Time // and when
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
	d := a.forecastLocked(now, r).Sub(now)
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

// needsClock is always true: settle reads the clock unless the reservation
// was answered already, which answer sees under the limiter's lock (one
// lock a settle, not two).
func (r *adaptiveReservation) needsClock(int) bool { return true }

func (r *adaptiveReservation) settle(now time.Time, used int, rl *RateLimit) {
	r.a.answer(now, r, used, rl)
}
