package endpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// HTTPClient is the endpoint's managed *http.Client: every request sent
// through it is one call of the endpoint, as Call and Stream are. It is
// the client the typed SDK clients (openai.ClientOf, anthropic.ClientOf)
// are built on, and any Go SDK that takes an *http.Client becomes managed
// by it.
//
// A request through it gets, in this order: the closed check (ErrNotStarted
// before Start, ErrClosed once Stop has begun), the endpoint's headers and
// auth (the endpoint's auth header replaces the request's; its other
// headers win over the endpoint's defaults) and its body Defaults, then per
// attempt admission (request and token limits, the token cost estimated
// from the body as Call does, adaptive limits learned from the answers'
// headers, max_wait shedding with an *executor.OverloadError), the circuit
// breaker, and the endpoint's retry policy and error classification. A
// request's URL must be below the endpoint's base URL's origin (scheme and
// host), or relative to the base URL; another host is refused, so that the
// endpoint's key goes nowhere else.
//
// What comes back:
//   - a 2xx answer that is not an event stream is read in full within the
//     attempt timeout and read.max_body_bytes, and its concurrency slot is
//     free when RoundTrip returns;
//   - a 2xx text/event-stream answer is handed over open: its slot is held
//     until the body is closed (or the request's ctx ends, or Stop cuts it),
//     and an event over read.max_event_bytes fails the read with a
//     *ReadLimitError;
//   - a status error, once the endpoint's retries are spent, is the
//     provider's answer (status, headers and a body cut to 4 KiB, the key
//     scrubbed), so that an SDK builds its own typed error from it;
//   - khive's own refusals (closed, circuit open, overloaded, queue full, a
//     read limit, an unreachable upstream) are errors, which an SDK passes
//     on: errors.Is and errors.As see them.
//
// The client itself holds nothing to close: the endpoint's Stop drains the
// requests in flight through it like its Calls and releases the pool.
func (e *Endpoint) HTTPClient() *http.Client { return e.managed }

// managedTransport is the managed client's round tripper.
type managedTransport struct{ e *Endpoint }

func (t managedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	e := t.e
	if err := e.usable(); err != nil {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper closes the body, sent or not
		}
		return nil, err
	}
	pr, err := e.prepareSent(req)
	if err != nil {
		return nil, err
	}
	c, err := e.begin(req.Context(), pr, modeEither)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.header != nil {
			return answer(req, se.Status, se.header, se.Body), nil
		}
		return nil, err
	}
	if c.r.stream == nil {
		c.held.Release(nil)
		c.span.end(c.ctx, e.dialect, c.r.Body, nil)
		return answer(req, c.r.Status, c.r.Header, c.r.Body), nil
	}
	return e.openStream(req.Context(), c), nil
}

// prepareSent turns a request given to the managed client into the
// endpoint's prepared request. Its body is read and closed, as a
// RoundTripper must.
func (e *Endpoint) prepareSent(req *http.Request) (*prepared, error) {
	body, err := readSent(req)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: reading the request body: %w", e.cfg.Name, err)
	}
	u, err := e.sentURL(req.URL)
	if err != nil {
		return nil, err
	}
	// The endpoint's headers under the request's, the auth header the
	// endpoint's; the values are shared, as nothing on the way modifies
	// them (an attempt clones the map before it adds trace context).
	h := make(http.Header, len(e.header)+len(req.Header))
	for k, vs := range e.header {
		h[k] = vs
	}
	for k, vs := range req.Header {
		if !e.isAuthHeader(k) {
			h[k] = vs
		}
	}
	if len(e.defaults) > 0 && len(body) > 0 {
		if body, err = encodeBody(body, e.defaults); err != nil {
			return nil, fmt.Errorf("endpoint %q: request body: %w", e.cfg.Name, err)
		}
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	p := &prepared{method: method, url: u, header: h, body: body, raw: true}
	if e.learns {
		p.cost = e.dialect.Cost(body)
	}
	return p, nil
}

// readSent reads and closes a request's body, sized by its ContentLength
// when it has one.
func readSent(req *http.Request) ([]byte, error) {
	if req.Body == nil {
		return nil, nil
	}
	defer req.Body.Close()
	if req.Body == http.NoBody {
		return nil, nil
	}
	if n := req.ContentLength; n > 0 {
		b := make([]byte, n)
		if _, err := io.ReadFull(req.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(req.Body)
}

// sentURL is the absolute URL of a managed request: a relative URL is
// resolved below the base URL; an absolute one must have the base URL's
// scheme and host.
func (e *Endpoint) sentURL(u *url.URL) (string, error) {
	if u.Host == "" && u.Scheme == "" {
		return e.base + "/" + strings.TrimPrefix(u.String(), "/"), nil
	}
	if !strings.EqualFold(u.Scheme, e.origin.Scheme) || !strings.EqualFold(u.Host, e.origin.Host) {
		return "", fmt.Errorf("endpoint %q: a request to %s://%s is outside the endpoint's base URL (%s://%s): refused, so that its key goes nowhere else",
			e.cfg.Name, u.Scheme, u.Host, e.origin.Scheme, e.origin.Host)
	}
	return u.String(), nil
}

// answer is a read answer as an *http.Response.
func answer(req *http.Request, status int, h http.Header, body []byte) *http.Response {
	h.Del("Content-Length") // the body may have been cut; ContentLength says
	return &http.Response{
		Status: strconv.Itoa(status) + " " + http.StatusText(status), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		Request: req,
	}
}

// openStream hands over a 2xx event stream: its body, checked against
// read.max_event_bytes, holds the call's admissions until it is closed, or
// until the call's tracked ctx ends (the caller's ctx, or Stop's cut).
func (e *Endpoint) openStream(caller context.Context, c begun) *http.Response {
	resp := c.r.stream
	b := &streamBody{
		rc: resp.Body, name: e.cfg.Name, limit: e.cfg.Read.MaxEventBytes,
		cut: func(err error) error { return e.cutErr(caller, c.held.Context(), err) },
	}
	end := func() { c.span.end(c.ctx, e.dialect, nil, c.free()) }
	b.release = func() {
		b.stopCut()
		b.once.Do(end)
	}
	b.stopCut = context.AfterFunc(c.held.Context(), func() { b.once.Do(end) })
	out := *resp // free closes the upstream's body, resp.Body
	out.Body = b
	return &out
}

// streamBody is a managed stream's body: reads fail once an event (the
// bytes since the last blank line) passes the limit, and Close frees the
// call's admissions.
type streamBody struct {
	rc      io.ReadCloser
	name    string
	limit   int
	cut     func(error) error
	release func()
	stopCut func() bool
	once    sync.Once

	event int  // bytes of the current event so far
	line  int  // bytes of the current line so far
	last  byte // the last byte read
	over  bool
}

func (b *streamBody) Read(p []byte) (int, error) {
	if b.over {
		return 0, &ReadLimitError{Endpoint: b.name, What: "event", Limit: int64(b.limit)}
	}
	n, err := b.rc.Read(p)
	if !b.count(p[:n]) {
		b.over = true
		b.rc.Close() // unread: the connection is not reused
		return 0, &ReadLimitError{Endpoint: b.name, What: "event", Limit: int64(b.limit)}
	}
	if err != nil && err != io.EOF {
		err = b.cut(fmt.Errorf("endpoint %q: stream: %w", b.name, err))
	}
	return n, err
}

// count adds p to the current event, and reports whether the event is
// still within the limit. A blank line ("\n" or "\r\n") ends an event.
func (b *streamBody) count(p []byte) bool {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			b.event += len(p)
			b.line += len(p)
			b.last = p[len(p)-1]
			break
		}
		b.event += i + 1
		if b.event > b.limit {
			return false
		}
		line := b.line + i // the line's bytes before its newline
		prev := b.last
		if i > 0 {
			prev = p[i-1]
		}
		if line == 0 || (line == 1 && prev == '\r') {
			b.event = 0
		}
		b.line, b.last = 0, '\n'
		p = p[i+1:]
	}
	return b.event <= b.limit
}

// Close frees the call's admissions and ends its request. It is idempotent.
func (b *streamBody) Close() error {
	b.release()
	return nil
}
