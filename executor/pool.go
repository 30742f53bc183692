package executor

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/khive-go/khive/internal/wait"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Pool runs tasks with bounded concurrency, a bounded queue and optional
// request, token, keyed and adaptive rate limits. Build it with New, Start
// it, and Stop it to drain. A Pool is safe for concurrent use.
//
// Go gives each admitted task a goroutine (Run uses the caller's) that waits
// for its rate limits (tokens are reserved at submission, so concurrent
// submitters never overshoot), then for a running slot, then runs.
type Pool struct {
	cfg   Config
	log   *zap.Logger
	gates []gate
	admit chan *task    // free admission tokens, which are task records; nil = unbounded
	made  atomic.Int64  // task records made for admit, at most its capacity
	slots chan struct{} // running slots, when a queue sits in front; else nil

	// state packs startedBit, closedBit and the number of admitted tasks that
	// have not finished, so admission and drain need no lock.
	state     atomic.Uint64
	drained   chan struct{}
	drainOnce sync.Once
	hardCtx   context.Context
	hard      context.CancelFunc // cancels every task's ctx

	adaptiveGiven bool // WithAdaptiveLimiter was used: Adaptive builds none

	mu       sync.Mutex // guards the lifecycle below
	stopping bool
	stopDone chan struct{}
	stopErr  error

	// Counters written by submitters and by tasks sit on separate cache
	// lines so the two sides do not contend.
	submitted, rejected atomic.Int64
	_                   [48]byte
	running, completed  atomic.Int64
	failed, cancelled   atomic.Int64
	panicked            atomic.Int64
	limiterWait         atomic.Int64
}

const (
	startedBit = 1 << 63
	closedBit  = 1 << 62
	countMask  = closedBit - 1
)

// New validates cfg and builds a pool. It starts nothing.
func New(cfg Config, opts ...Option) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		if cfg.Name != "" {
			return nil, fmt.Errorf("executor %q: %w", cfg.Name, err)
		}
		return nil, fmt.Errorf("executor: %w", err)
	}
	p := &Pool{
		cfg:      cfg,
		log:      zap.NewNop(),
		drained:  make(chan struct{}),
		stopDone: make(chan struct{}),
	}
	p.cfg.MaxWait = max(cfg.MaxWait, 0) // negative: no bound, as 0 is for a Pool
	p.hardCtx, p.hard = context.WithCancel(context.Background())
	if r := cfg.RequestRate(); r > 0 && !cfg.Adaptive { // adaptive: the rates are its ceilings
		p.gates = append(p.gates, &bucket{lim: rate.NewLimiter(rate.Limit(r), cfg.Burst), what: "request limiter"})
	}
	if cfg.TokensPerMinute > 0 && !cfg.Adaptive {
		p.gates = append(p.gates, &bucket{
			lim: rate.NewLimiter(rate.Limit(cfg.TokensPerMinute/60), cfg.tokenBurst()), useCost: true, what: "token limiter",
		})
	}
	if n := cfg.capacity(); n > 0 {
		p.admit = make(chan *task, n)
		if cfg.QueueSize > 0 {
			p.slots = make(chan struct{}, cfg.MaxConcurrency)
		}
	}
	for _, o := range opts {
		o.apply(p)
	}
	if cfg.Adaptive && !p.adaptiveGiven {
		as, err := cfg.AdaptiveLimiters()
		if err != nil {
			return nil, fmt.Errorf("executor %q: %w", cfg.Name, err)
		}
		for _, a := range as {
			p.gates = append(p.gates, a)
		}
	}
	p.log = p.log.With(zap.String("component", "executor"), zap.String("name", cfg.Name))
	return p, nil
}

// Start opens the pool for work. Start after Stop returns ErrClosed.
func (p *Pool) Start(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return ErrClosed
	}
	if p.state.Or(startedBit)&startedBit == 0 {
		p.log.Debug("executor started",
			zap.Int("max_concurrency", p.cfg.MaxConcurrency), zap.Int("queue_size", p.cfg.QueueSize))
	}
	return nil
}

// Go schedules fn and returns at once. A nil error means fn will run, or be
// reported cancelled in Stats if its ctx ends first.
func (p *Pool) Go(ctx context.Context, fn Func, opts ...TaskOption) error {
	t, err := p.submit(ctx, fn, opts)
	if err != nil {
		return err
	}
	t.due = false // its goroutine may start late: its limits are looked at again then
	go p.run(t)
	return nil
}

// Run schedules fn and waits for its result, a submission error, or the
// error of a task that never ran because its ctx ended. The task waits for
// its limits and slot, and runs, on the caller's goroutine: the caller waits
// anyway, and a hand-off to another goroutine would only add latency.
func (p *Pool) Run(ctx context.Context, fn Func, opts ...TaskOption) error {
	t, err := p.submit(ctx, fn, opts)
	if err != nil {
		return err
	}
	return p.run(t)
}

// Stats returns a snapshot of the counters.
func (p *Pool) Stats() Stats {
	return Stats{
		Submitted:   p.submitted.Load(),
		Running:     p.running.Load(),
		Queued:      max(p.inFlight()-p.running.Load(), 0),
		Completed:   p.completed.Load(),
		Failed:      p.failed.Load(),
		Panicked:    p.panicked.Load(),
		Rejected:    p.rejected.Load(),
		Cancelled:   p.cancelled.Load(),
		LimiterWait: time.Duration(p.limiterWait.Load()),
	}
}

type task struct {
	ctx     context.Context
	cancel  context.CancelFunc // nil when ctx is the pool's own
	unhook  func() bool        // detaches cancel from the pool's hard stop
	fn      Func
	res     reservations
	onDone  func(error)
	start   time.Time // when it was submitted, for MaxWait; zero without it
	slotted bool      // holds a running slot
	due     bool      // its reservations were due when made, and it runs at once
}

// reset clears a finished task's record for its next use, keeping the
// reservations' backing array.
func (t *task) reset() {
	clear(t.res)
	*t = task{res: t.res[:0]}
}

// submit admits a task and reserves its limits; the caller then runs it.
func (p *Pool) submit(ctx context.Context, fn Func, opts []TaskOption) (*task, error) {
	p.submitted.Add(1)
	var o taskOptions
	if len(opts) > 0 {
		o = collect(opts)
	}
	var start time.Time
	if p.cfg.MaxWait > 0 {
		start = time.Now()
	}
	t, err := p.admitTask(ctx, o.waitForSpace, start)
	if err != nil {
		p.rejected.Add(1)
		return nil, err
	}
	t.fn, t.onDone, t.start = fn, o.onDone, start
	if len(p.gates) > 0 {
		now := start
		if now.IsZero() {
			now = time.Now()
		}
		for _, g := range p.gates {
			r, err := g.reserve(ctx, now, o.key, o.cost)
			if err == nil && r != nil {
				t.res = append(t.res, r)
			}
			if err == nil && p.cfg.MaxWait > 0 {
				if d := t.res.delay(now); d > p.admitWithin() {
					err = p.overloaded("rate limit", d, d)
				}
			}
			if err != nil {
				t.res.cancel(now)
				p.unadmit(t)
				p.rejected.Add(1)
				if !errors.Is(err, ErrOverloaded) {
					err = fmt.Errorf("executor %q: %w", p.cfg.Name, err)
				}
				return nil, err
			}
		}
		t.due = t.res.delay(now) <= 0
	}
	if o.inherit {
		t.ctx = ctx
	} else {
		t.ctx, t.cancel, t.unhook = p.taskContext(ctx)
	}
	return t, nil
}

// admitWithin is the longest rate-limit wait accepted when a task reserves:
// nine tenths of MaxWait. The rest is room for an adaptive limiter's
// forecast to be off as answers correct its estimate, so that a task
// accepted is not refused later for a small correction; only a wait past
// MaxWait refuses it then.
func (p *Pool) admitWithin() time.Duration { return p.cfg.MaxWait - p.cfg.MaxWait/10 }

func (p *Pool) overloaded(reason string, wait, retryAfter time.Duration) *OverloadError {
	return &OverloadError{Pool: p.cfg.Name, Reason: reason, Wait: wait, RetryAfter: retryAfter}
}

func collect(opts []TaskOption) taskOptions {
	var o taskOptions
	for _, opt := range opts {
		o = opt.with(o)
	}
	return o
}

// admitTask counts the task in and takes an admission token, which is
// the task's record.
//
// A bounded pool's tokens are its task records: p.admit holds the free
// ones, up to capacity() of them, made as first needed (p.made counts
// them). Taking one is a receive, giving it back a send, so a task costs
// no allocation once the pool is warm, and a submitter waiting for room
// waits on that one receive. Stop does not close a channel to wake blocked
// submitters (that would put another case in the select, whose wake-up
// costs more than a no-op task): it sets closedBit and sends one extra
// record, which lets the first blocked submitter in; each submitter let in
// after the close sees closedBit, and giving its record back lets in the
// next. Records are given back with a non-blocking send, because after
// Stop's extra one the buffer may be full; one is dropped then.
func (p *Pool) admitTask(ctx context.Context, wait bool, start time.Time) (*task, error) {
	s := p.state.Add(1)
	switch {
	case s&closedBit != 0:
		p.leave()
		return nil, ErrClosed
	case s&startedBit == 0:
		p.leave()
		return nil, ErrNotStarted
	case p.admit == nil:
		return new(task), nil
	}
	select {
	case t := <-p.admit:
		return p.admitted(t)
	default:
	}
	for n := p.made.Load(); n < int64(cap(p.admit)); n = p.made.Load() {
		if p.made.CompareAndSwap(n, n+1) {
			return p.admitted(new(task))
		}
	}
	if !wait && !p.cfg.BlockWhenFull {
		p.leave()
		return nil, ErrQueueFull
	}
	done := ctx.Done()
	if done == nil && p.cfg.MaxWait <= 0 {
		return p.admitted(<-p.admit) // nothing but Stop ends this wait: a plain receive wakes fastest
	}
	var expired <-chan time.Time
	if p.cfg.MaxWait > 0 {
		tm := time.NewTimer(p.cfg.MaxWait - time.Since(start))
		defer tm.Stop()
		expired = tm.C
	}
	select {
	case t := <-p.admit:
		return p.admitted(t)
	case <-done:
		p.leave()
		return nil, fmt.Errorf("executor %q: waiting for queue space: %w", p.cfg.Name, ctx.Err())
	case <-expired:
		p.leave()
		return nil, p.overloaded("queue", p.cfg.MaxWait, p.cfg.MaxWait)
	}
}

// admitted checks, once a submitter holds a token, that Stop has not begun
// meanwhile; if it has, the token goes back (letting the next blocked
// submitter in to see the same) and the submission fails with ErrClosed.
func (p *Pool) admitted(t *task) (*task, error) {
	if p.state.Load()&closedBit == 0 {
		return t, nil
	}
	p.unadmit(t)
	return nil, ErrClosed
}

// releaseToken gives a task's record back as a free admission token.
func (p *Pool) releaseToken(t *task) {
	if p.admit == nil {
		return
	}
	t.reset()
	select {
	case p.admit <- t:
	default: // only after Stop's extra token
	}
}

// inFlight is the number of admitted tasks that have not finished.
func (p *Pool) inFlight() int64 { return int64(p.state.Load() & countMask) }

// unadmit undoes a successful admitTask.
func (p *Pool) unadmit(t *task) {
	p.releaseToken(t)
	p.leave()
}

// leave counts a task out, signalling the drain when it was the last one.
func (p *Pool) leave() {
	if s := p.state.Add(^uint64(0)); s&closedBit != 0 && s&countMask == 0 {
		p.signalDrained()
	}
}

func (p *Pool) signalDrained() { p.drainOnce.Do(func() { close(p.drained) }) }

// taskContext derives the task's ctx: cancelled with the submitter's ctx and
// with the pool's hard stop, carrying the submitter's values.
func (p *Pool) taskContext(ctx context.Context) (context.Context, context.CancelFunc, func() bool) {
	if ctx == context.Background() || ctx == nil {
		return p.hardCtx, nil, nil
	}
	tctx, cancel := context.WithCancel(ctx)
	return tctx, cancel, context.AfterFunc(p.hardCtx, cancel)
}

// run executes an admitted task to its end, counts it and releases it.
func (p *Pool) run(t *task) error {
	out, err := p.exec(t)
	p.finish(t, out, err)
	return err
}

// finish counts a task's outcome and releases everything it held.
func (p *Pool) finish(t *task, out outcome, err error) {
	switch {
	case out == outNotRun:
		p.cancelled.Add(1)
	case out == outPanicked:
		p.failed.Add(1)
		p.panicked.Add(1)
	case err == nil:
		p.completed.Add(1)
	case t.ctx.Err() != nil:
		p.cancelled.Add(1)
	default:
		p.failed.Add(1)
	}
	if len(t.res) > 0 {
		t.res.settle(-1, nil) // a task's answer is not known: only "done"
	}
	if t.slotted {
		<-p.slots
	}
	if t.unhook != nil {
		t.unhook()
		t.cancel()
	}
	onDone := t.onDone
	p.releaseToken(t)
	if onDone != nil {
		onDone(err)
	}
	p.leave()
}

// outcome says how far a task got.
type outcome int

const (
	outNotRun   outcome = iota // its ctx ended while it waited
	outReturned                // fn returned
	outPanicked                // fn panicked
)

// exec waits for the task's limits and slot, then calls it.
func (p *Pool) exec(t *task) (outcome, error) {
	if err := p.await(t); err != nil {
		return outNotRun, err
	}
	p.running.Add(1)
	defer p.running.Add(-1)
	return call(t.ctx, t.fn)
}

// await waits for the task's rate limits, then takes a running slot. A
// task awaited at once on its submitter's goroutine (Run, Acquire) whose
// reservations were due when it made them does not look again: nothing
// came between.
func (p *Pool) await(t *task) error {
	if len(t.res) > 0 && !t.due {
		if err := p.waitLimits(t); err != nil {
			return err
		}
	}
	if p.slots != nil {
		if err := p.takeSlot(t); err != nil {
			return err
		}
	}
	select { // cheaper than ctx.Err, which takes the context's lock
	case <-t.ctx.Done():
		return t.ctx.Err()
	default:
		return nil
	}
}

// takeSlot waits for a running slot, within what is left of MaxWait.
func (p *Pool) takeSlot(t *task) error {
	select {
	case p.slots <- struct{}{}:
		t.slotted = true
		return nil
	default:
	}
	var expired <-chan time.Time
	if p.cfg.MaxWait > 0 {
		tm := time.NewTimer(p.cfg.MaxWait - time.Since(t.start))
		defer tm.Stop()
		expired = tm.C
	}
	select {
	case p.slots <- struct{}{}:
		t.slotted = true
		return nil
	case <-t.ctx.Done():
		return t.ctx.Err()
	case <-expired:
		return p.overloaded("concurrency", p.cfg.MaxWait, p.cfg.MaxWait)
	}
}

func call(ctx context.Context, fn Func) (out outcome, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = outPanicked, &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return outReturned, fn(ctx)
}

// waitLimits sleeps until the task's reservations come due. An adaptive
// limiter's pause can push them back while the task waits; a task pushed
// beyond MaxWait is refused then, its tokens given back.
func (p *Pool) waitLimits(t *task) error {
	start := time.Now()
	d := t.res.delay(start)
	if d <= 0 {
		return nil // due already: the common case, no wait to count
	}
	defer func() { p.limiterWait.Add(int64(time.Since(start))) }()
	for now := start; ; {
		if p.cfg.MaxWait > 0 {
			if waited := now.Sub(t.start); waited+d > p.cfg.MaxWait {
				t.res.cancel(now)
				return p.overloaded("rate limit", waited+d, d)
			}
		}
		if err := p.sleepLimits(t, d); err != nil {
			t.res.cancel(time.Now())
			return err
		}
		now = time.Now()
		if d = t.res.delay(now); d <= 0 {
			return nil
		}
	}
}

// sleepLimits waits d, or less when an adaptive limiter releases the
// task's reservation before its forecast.
func (p *Pool) sleepLimits(t *task, d time.Duration) error {
	wa, wb := t.res.wakes()
	if wa == nil {
		return wait.Sleep(t.ctx, d)
	}
	if dl, ok := t.ctx.Deadline(); ok && time.Until(dl) < d {
		return fmt.Errorf("wait of %v does not fit before the context deadline: %w", d, context.DeadlineExceeded)
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-wa:
	case <-wb:
	case <-t.ctx.Done():
		return t.ctx.Err()
	}
	return nil
}
