package endpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/internal/hooks"
)

// Call sends req and returns the provider's 2xx response, or an error:
// ErrNotStarted, ErrClosed, *CircuitOpenError, *StatusError, an executor
// admission error (ErrQueueFull, ErrCostTooHigh), or a transport error once
// retries are spent. Every error names the endpoint.
//
// The path: closed check, cache (when req.Cache and the endpoint has one),
// rate limits and a concurrency slot (the endpoint's executor), then per
// attempt the circuit breaker and the transport, retrying as configured.
func (e *Endpoint) Call(ctx context.Context, req Request) (*Response, error) {
	if err := e.usable(); err != nil {
		return nil, err
	}
	pr, err := e.prepare(req, false)
	if err != nil {
		return nil, err
	}
	if req.Cache && e.cache != nil {
		return e.cache.do(ctx, cacheKey(pr.method, pr.url, pr.body), func() (*Response, error) {
			return e.call(ctx, pr)
		})
	}
	return e.call(ctx, pr)
}

func (e *Endpoint) call(ctx context.Context, pr *prepared) (*Response, error) {
	c, err := e.begin(ctx, pr, modeCall)
	if err != nil {
		return nil, err
	}
	c.held.Release(nil)
	c.span.end(c.ctx, e.dialect, c.r.Body, nil)
	return &c.r.Response, nil
}

// begun is a call or stream past its attempts: its span (and the span's
// ctx), its place in the call tracker, and the successful attempt's result.
type begun struct {
	ctx  context.Context
	span *callSpan
	held *executor.Lease
	r    *result
}

// mode is what an attempt's answer is read as.
type mode uint8

const (
	modeCall   mode = iota // a body, read in full within the attempt timeout
	modeStream             // an event stream, left open; any other 2xx is a NotAStreamError
	modeEither             // an event stream when the answer is one, a body otherwise (the managed client)
)

// begin opens a call's span, counts it in the call tracker and runs its
// attempts. On failure it releases what it took and ends the span; on
// success the caller releases held and ends the span.
func (e *Endpoint) begin(ctx context.Context, pr *prepared, m mode) (begun, error) {
	ctx, span := e.startCall(ctx, pr)
	var cl *executor.Lease
	var err error
	if hooks.CallerCuts(ctx) {
		cl, err = e.calls.Acquire(ctx, inheritContext) // cut by its caller before Stop could
	} else {
		cl, err = e.calls.Acquire(ctx)
	}
	if err != nil {
		err = e.poolErr(err)
		span.end(ctx, e.dialect, nil, err)
		return begun{}, err
	}
	r, err := e.attempts(cl.Context(), pr, m)
	if err != nil {
		err = e.cutErr(ctx, cl.Context(), err)
		cl.Release(err)
		span.end(ctx, e.dialect, nil, err)
		return begun{}, err
	}
	return begun{ctx: ctx, span: span, held: cl, r: r}, nil
}

// cutErr is err, unless Stop cut the call (its tracked ctx ended while
// the caller's lives): then an error that is ErrClosed and says so.
func (e *Endpoint) cutErr(caller, tracked context.Context, err error) error {
	if err == nil || e.state.Load() != stateStopping || tracked.Err() == nil || caller.Err() != nil {
		return err
	}
	return withReached(fmt.Errorf("endpoint %q is stopping: the call was cut by shutdown: %w", e.cfg.Name, ErrClosed), AttemptsOf(err))
}

// result is one successful attempt: a read body, or an open stream.
type result struct {
	Response                    // what the caller gets: status, header, body, attempts
	stream   *http.Response     // open body, streams only
	cancel   context.CancelFunc // ends the stream's request
	lease    *executor.Lease    // a stream's admission, held until Close
	sent     time.Time          // when the attempt went out
	received time.Time          // when its response headers came in
	timedOut atomic.Bool        // the body's read outlived the attempt's timeout
}

// attempts runs the retry loop. Every attempt, first or retry, is admitted
// on its own (rate limits and a concurrency slot, within max_wait), then
// passes the breaker and goes out; a retry first waits its backoff or the
// server's hint, then for admission, so refused callers come back spread
// by the limiter instead of in a herd.
func (e *Endpoint) attempts(ctx context.Context, pr *prepared, m mode) (_ *result, err error) {
	reached := 0 // requests that reached the upstream, net/http's replays included
	defer func() {
		if err != nil {
			err = withReached(err, reached)
		}
	}()
	c := e.client.Load()
	if c == nil {
		return nil, fmt.Errorf("endpoint %q: %w", e.cfg.Name, ErrClosed)
	}
	rc := e.cfg.Retry
	breaker := e.breaker
	if pr.probe {
		rc.MaxAttempts, breaker = 1, nil
	}
	traced := trace.SpanFromContext(ctx).IsRecording() || e.tel.wait.Enabled(ctx)
	for attempt := 1; ; attempt++ {
		actx, aspan := ctx, noSpan
		if traced {
			actx, aspan = e.startAttempt(ctx, attempt)
		}
		// The attempt runs under the call's ctx, which the call tracker
		// cancels at Stop's deadline; it needs no context of its own.
		var began time.Time
		if traced {
			began = time.Now()
		}
		lease, err := e.pool.Acquire(actx, executor.Cost(pr.cost), inheritContext)
		if err != nil {
			err = e.admissionErr(attempt, err)
			endAttempt(aspan, 0, err, false, 0)
			return nil, err
		}
		if traced {
			e.admitted(actx, aspan, time.Since(began))
		}
		sent := time.Now() // one clock reading for the breaker and the attempt
		if breaker != nil {
			if remaining, ok := breaker.allow(sent); !ok {
				err := &CircuitOpenError{Endpoint: e.cfg.Name, Remaining: remaining}
				lease.Release(err)
				endAttempt(aspan, 0, err, false, 0)
				return nil, err
			}
		}
		r, err := e.attempt(lease.Context(), c, pr, m, sent, &reached)
		e.observe(lease, r)
		if breaker != nil {
			e.report(ctx, r, err)
		}
		if err == nil && r.Status < 300 {
			r.Attempts = reached
			if r.stream != nil {
				r.lease = lease // released when the stream closes
			} else {
				lease.Release(nil)
			}
			endAttempt(aspan, r.Status, nil, false, 0)
			return r, nil
		}

		var retry bool
		var hint time.Duration
		var hinted bool
		if err != nil {
			retry = retryableError(ctx, err)
			if !badAnswer(err) {
				err = &TransportError{Endpoint: e.cfg.Name, Attempt: attempt, Err: err}
			}
			if ctx.Err() == nil { // not the caller giving up: say why the upstream was not reached
				e.log.Warn("attempt failed", zap.Int("attempt", attempt), zap.Bool("retry", retry && attempt < rc.MaxAttempts), zap.Error(err))
			}
		} else {
			hint, hinted = serverHint(e.dialect, r.Status, r.Header, time.Now())
			// The caller (and the gateway's client) is told at most the cap.
			se := newStatusError(e.dialect, e.cfg.Name, r.Status, r.Body, min(hint, rc.MaxRetryAfter), e.cfg.APIKey)
			se.Attempts, se.header = reached, r.Header
			if loc := redirectedTo(r); loc != "" {
				se.Message = "redirected to " + loc + " (not followed: set base_url to where it leads)"
			}
			retry, err = shouldRetryStatus(e.dialect, r.Status, r.Header), se
		}
		lease.Release(err)
		status := 0
		if r != nil {
			status = r.Status
		}
		endAttempt(aspan, status, err, retry && attempt < rc.MaxAttempts, hint)
		if !retry || attempt >= rc.MaxAttempts || ctx.Err() != nil {
			return nil, err
		}
		wait := backoff(rc, attempt-1, e.rnd)
		if hinted {
			if hint > rc.MaxRetryAfter {
				return nil, err // the StatusError carries the hint
			}
			wait = hint // a server's hint is obeyed, never shortened by jitter
		}
		if werr := e.sleep(ctx, wait); werr != nil {
			return nil, err
		}
		e.retries.Add(1)
	}
}

// observe feeds an attempt's answer back to the limits: the rate-limit
// headers to the adaptive limiters, the usage a call's body reports to the
// token limits. A stream's usage comes at its end and is not read.
func (e *Endpoint) observe(lease *executor.Lease, r *result) {
	if !e.learns {
		return
	}
	used := -1
	if r != nil && r.stream == nil && r.Status < 300 {
		used = e.dialect.Usage(r.Body)
	}
	var rl *executor.RateLimit
	if r != nil && e.cfg.Limits.Adaptive {
		// Resets given as instants are read against the time the
		// request went out, when the provider measured what remains; read
		// against the answer's arrival they would be short by the latency.
		parsed := e.capHints(e.dialect.RateLimit(r.Header, r.sent), r.Status)
		rl = &parsed
	}
	lease.Observe(rl, used)
}

// capHints bounds what one answer can make the limits do: a Retry-After on
// a 2xx is no hint at all, and a pause (Retry-After, or the reset of an
// exhausted window) longer than retry.max_retry_after is cut to it, so that
// no answer shuts the endpoint for longer. The first hint cut is logged at
// Warn.
func (e *Endpoint) capHints(rl executor.RateLimit, status int) executor.RateLimit {
	if status < 300 {
		rl.RetryAfter = -1
	}
	limit := e.cfg.Retry.MaxRetryAfter
	capped := false
	if rl.RetryAfter > limit {
		rl.RetryAfter, capped = limit, true
	}
	for _, w := range []*executor.Window{&rl.Requests, &rl.Tokens, &rl.InputTokens, &rl.OutputTokens} {
		if w.Remaining == 0 && w.Reset > limit {
			w.Reset, capped = limit, true
		}
	}
	if capped && e.hintWarned.CompareAndSwap(false, true) {
		e.log.Warn("the upstream asked for a pause longer than retry.max_retry_after; capped (logged once)",
			zap.Int("status", status), zap.Duration("max_retry_after", limit))
	}
	return rl
}

// admissionErr names the endpoint (and the attempt, for a retry) in an
// admission refusal.
func (e *Endpoint) admissionErr(attempt int, err error) error {
	err = e.poolErr(err)
	if attempt > 1 {
		return fmt.Errorf("attempt %d: %w", attempt, err)
	}
	return err
}

// report tells the breaker what an attempt says of the upstream's health.
func (e *Endpoint) report(ctx context.Context, r *result, err error) {
	if e.breaker == nil {
		return
	}
	o := outcomeSuccess
	switch {
	case err != nil && ctx.Err() != nil:
		o = outcomeIgnore // the caller gave up
	case err != nil:
		o = outcomeFailure
	case r.Status >= 500:
		o = outcomeFailure
	case r.Status == http.StatusTooManyRequests:
		o = outcomeIgnore // the limiter deals with it
	}
	if r != nil {
		e.breaker.done(r.received, o) // the attempt's last clock reading: near enough for the window
		return
	}
	e.breaker.done(time.Now(), o)
}

// attempt sends once. For a call the attempt timeout covers the whole
// exchange; for a stream only the response headers, and a 2xx body is left
// open. Non-2xx bodies are always read and closed, so the connection is
// reused.
//
// On the endpoint's own transport a call needs no per-attempt context: the
// dialer, TLS handshake and response-header timeouts bound the exchange up
// to the headers, and a timer that closes the body bounds the rest. That
// saves net/http the cost of a cancellable request context on every call.
//
// reached counts the requests of the attempt that reached the upstream: one
// that got an answer or failed after its dial, or, for a request net/http
// may replay on a dead kept-alive connection (GET, HEAD, OPTIONS, TRACE, or
// one with an Idempotency-Key), each whose headers were written. (Others
// net/http replays only when nothing of them was written.)
func (e *Endpoint) attempt(ctx context.Context, c *client, pr *prepared, m mode, start time.Time, reached *int) (*result, error) {
	actx, cancel := ctx, context.CancelFunc(func() {})
	var headerTimer *time.Timer
	sdk := c.sdk
	if pr.raw {
		sdk = nil // the request came from an SDK, or is the caller's own
	}
	switch {
	case m == modeStream || m == modeEither && !c.ownTransport:
		// On the endpoint's own transport a managed request needs no more
		// than a call: the transport bounds the wait for headers, a body
		// timer the rest, and closing a stream's body ends its request.
		actx, cancel = context.WithCancel(ctx)
		headerTimer = time.AfterFunc(e.cfg.Timeout, cancel)
	case !c.ownTransport:
		actx, cancel = context.WithTimeout(ctx, e.cfg.Timeout)
	}
	var wrote *atomic.Int32
	if replayable(pr) {
		wrote = new(atomic.Int32)
		actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Add(1) }})
	}
	req, err := e.newRequest(actx, pr, sdk == nil && c.ownTransport)
	if err != nil {
		cancel()
		return nil, err
	}
	if sdk != nil {
		req.Header = pr.header.Clone() // an SDK may add its own headers
	} else {
		req.Header = pr.header // net/http does not modify a request's headers
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		// W3C trace context to the provider: the attempt's span is the
		// parent of whatever the provider records.
		if sdk == nil {
			req.Header = req.Header.Clone()
		}
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	var resp *http.Response
	switch {
	case sdk != nil:
		resp, err = sdk.Do(req)
	case c.ownTransport:
		// Straight to the endpoint's own transport: http.Client would copy
		// the headers for redirects it follows, and an API's redirect is
		// an answer to report (a *StatusError with its Location), not to
		// follow with the request's body and key.
		resp, err = c.http.Transport.RoundTrip(req)
	default:
		resp, err = c.http.Do(req)
	}
	switch {
	case wrote != nil:
		*reached += int(wrote.Load())
	case err == nil || !isDialError(err):
		*reached++
	}
	if headerTimer != nil && !headerTimer.Stop() && err == nil {
		err = fmt.Errorf("no response headers within %v: %w", e.cfg.Timeout, context.DeadlineExceeded)
		resp.Body.Close()
	}
	if err != nil {
		cancel()
		if isTimeout(err) {
			err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		return nil, unwrapURLError(err)
	}
	r := &result{Response: Response{Status: resp.StatusCode, Header: resp.Header}, sent: start, received: time.Now()}
	if m != modeCall && resp.StatusCode < 300 { // a call's Content-Type is not looked at
		switch ct := resp.Header.Get("Content-Type"); {
		case isEventStream(ct) || m == modeStream && ct == "":
			r.stream, r.cancel = resp, cancel
			return r, nil
		case m == modeStream:
			resp.Body.Close() // unread: the connection is not reused
			cancel()
			if len(ct) > 64 {
				ct = ct[:64]
			}
			return nil, &NotAStreamError{Endpoint: e.cfg.Name, Status: resp.StatusCode, ContentType: ct}
		}
	}
	defer cancel()
	bodyTimer := time.AfterFunc(e.cfg.Timeout-r.received.Sub(start), func() {
		r.timedOut.Store(true)
		resp.Body.Close() // unblocks the read below
	})
	limit := e.cfg.Read.MaxBodyBytes
	if resp.StatusCode >= 300 {
		limit = int64(e.cfg.Read.MaxErrorBytes) // kept in part; the status says what matters
	}
	var over bool
	r.Body, over, err = readBody(resp, limit)
	bodyTimer.Stop()
	resp.Body.Close() // before its end: the connection is not reused
	if over && resp.StatusCode < 300 {
		return nil, &ReadLimitError{Endpoint: e.cfg.Name, What: "answer", Limit: limit}
	}
	if r.timedOut.Load() {
		return nil, fmt.Errorf("reading response body: attempt timeout %v: %w", e.cfg.Timeout, context.DeadlineExceeded)
	}
	if err != nil {
		return nil, fmt.Errorf("reading response body: %w", err)
	}
	return r, nil
}

// newRequest is pr's request under ctx, its headers still to set. The
// endpoint's own URL is parsed once; shared, the requests going straight
// to the endpoint's own transport use it as it is (net/http reads a
// request's URL and never changes it), others a copy (an SDK's or a
// user's round tripper may change theirs). Any other URL is parsed.
func (e *Endpoint) newRequest(ctx context.Context, pr *prepared, shared bool) (*http.Request, error) {
	var req *http.Request
	if pr.url == e.fixedURL && e.fixedParsed != nil {
		u := e.fixedParsed
		if !shared {
			c := *u
			u = &c
		}
		tmpl := http.Request{Method: pr.method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Host: u.Host}
		req = tmpl.WithContext(ctx)
	} else {
		var err error
		if req, err = http.NewRequestWithContext(ctx, pr.method, pr.url, nil); err != nil {
			return nil, err
		}
	}
	if body := pr.body; len(body) > 0 {
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	} else {
		req.Body = http.NoBody
	}
	return req, nil
}

// redirectedTo is where a 3xx answer points, without its query (which
// may carry a token), or "".
func redirectedTo(r *result) string {
	if r.Status < 300 || r.Status >= 400 {
		return ""
	}
	u, err := url.Parse(r.Header.Get("Location"))
	if err != nil || u.String() == "" {
		return ""
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	loc := u.String()
	if len(loc) > 200 {
		loc = loc[:200]
	}
	return loc
}

// replayable says whether net/http may send pr again on its own when a
// kept-alive connection fails under it (http.Request's isReplayable).
func replayable(pr *prepared) bool {
	switch pr.method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return pr.header["Idempotency-Key"] != nil || pr.header["X-Idempotency-Key"] != nil
}

// isDialError says the upstream was never reached: the name did not
// resolve, or the connection could not be made.
func isDialError(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &dns) || errors.As(err, &op) && op.Op == "dial"
}

// isEventStream says whether a Content-Type is text/event-stream.
func isEventStream(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "text/event-stream")
}

// isTimeout reports a transport timeout (dial, TLS handshake, response
// headers).
func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// unwrapURLError drops *url.Error's "Post URL:" prefix: the URL is noise in
// an error that already names the endpoint.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// readBody reads a response body in full, sized by Content-Length when the
// server sent one, up to limit bytes: over reports a body longer than
// that, of which nothing more is read.
func readBody(resp *http.Response, limit int64) (b []byte, over bool, err error) {
	if n := resp.ContentLength; n > limit {
		return nil, true, nil
	} else if n > 0 {
		b = make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, false, err
		}
		return b, false, nil
	}
	b, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if int64(len(b)) > limit {
		return b[:limit], true, err
	}
	return b, false, err
}
