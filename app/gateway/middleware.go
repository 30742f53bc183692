package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/khive-go/khive/app/gateway/admission"
	"github.com/khive-go/khive/endpoint"
)

// exchange is one API request's record for the access log and metrics.
type exchange struct {
	model    string
	endpoint string
	attempts int
	upstream time.Duration
	cut      string // why a stream was cut after its first byte, "" when it was not
	complete bool   // the stream's last event reached the client
	format   *clientFormat
	key      *admission.Key // nil without auth
	// usage is what the answer reported (-1 each when it did not); the
	// cache counts are parts of inTokens.
	inTokens, outTokens            int
	cachedTokens, cacheWriteTokens int
	// costUSD is what the request cost; costBasis how that is known
	// (usage, estimate or unknown; "" when nothing was served).
	costUSD   float64
	costBasis string
}

// noteUsage keeps the tokens an answer reports.
func (x *exchange) noteUsage(a endpoint.Answer) {
	if a.InputTokens >= 0 {
		x.inTokens = a.InputTokens
		x.cachedTokens, x.cacheWriteTokens = a.CachedInputTokens, a.CacheWriteTokens
	}
	if a.OutputTokens >= 0 {
		x.outTokens = a.OutputTokens
	}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, x *exchange) *apiError

// request is one API request on its way through the chain.
type request struct {
	w       *statusWriter
	r       *http.Request
	x       *exchange
	route   string
	start   time.Time
	hasBody bool          // false for a GET: nothing to read, nothing to drain
	body    *deadlineBody // the body under the read deadline, once set
	lease   *admission.Lease
	held    int64 // bytes of the in-flight body budget taken
	// What w, x and w's controller point to: one allocation a request.
	sw   statusWriter
	ex   exchange
	rc   http.ResponseController
	db   deadlineBody // what body points to once set
	line accessLine   // the access log's line, at the end
}

// The chain every API request passes before its route's handler, in
// order; each step returns nil to go on or the answer that ends the
// request. A request refused by the cheap steps spends none of its key's
// limits.
var admissionSteps = [...]func(*Server, *request) *apiError{
	(*Server).refuseDraining,
	(*Server).authenticate,
	(*Server).checkLength,
	(*Server).readUnsized,
	(*Server).admitKey,
	(*Server).takeBodyBudget,
}

// api wraps an API route: the admission steps, then the handler under the
// read and request deadlines, then the answer's end (errors written in
// the route's format, the key's lease ended, access log and metrics).
func (s *Server) api(route string, format *clientFormat, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.metrics.inFlight.Inc()
		defer s.metrics.inFlight.Dec()
		q := &request{
			r:     r,
			route: route, start: time.Now(),
			// A request without a body (a GET) keeps its connection:
			// net/http watches it for the client's close from the start,
			// and a read deadline would end that watch as if the client
			// had gone, cancelling every later request on the connection.
			hasBody: r.Body != http.NoBody,
			rc:      *http.NewResponseController(w),
			ex:      exchange{format: format, inTokens: -1, outTokens: -1},
		}
		q.sw = statusWriter{ResponseWriter: w, rc: &q.rc, timeout: s.cfg.WriteTimeout}
		q.w, q.x = &q.sw, &q.ex
		var aerr *apiError
		for _, step := range admissionSteps {
			if aerr = step(s, q); aerr != nil {
				break
			}
		}
		if aerr == nil {
			aerr = s.handle(q, h)
		}
		s.finish(q, aerr)
	})
}

func (s *Server) refuseDraining(q *request) *apiError {
	if !s.draining.Load() {
		return nil
	}
	q.w.Header().Set("Connection", "close")
	return drainingError()
}

func (s *Server) authenticate(q *request) *apiError {
	key, ok := s.authorized(q.r)
	q.x.key = key
	if !ok {
		return &apiError{status: http.StatusUnauthorized, typ: "invalid_request_error", code: "invalid_api_key",
			message: "Missing or invalid API key: send Authorization: Bearer KEY (or x-api-key: KEY)"}
	}
	return nil
}

func (s *Server) checkLength(q *request) *apiError {
	if q.r.ContentLength > s.cfg.MaxBodyBytes {
		return tooLarge(s.cfg.MaxBodyBytes)
	}
	return nil
}

// readUnsized reads a body sent without Content-Length (chunked) before
// anything is admitted, within max_body_bytes and the read deadline,
// taking the body budget as it grows: its cost and its share of the
// budget are then what it is, as for a body that declared its length.
func (s *Server) readUnsized(q *request) *apiError {
	if !q.hasBody || q.r.ContentLength >= 0 {
		return nil
	}
	body := s.underReadDeadline(q)
	buf := make([]byte, 0, 4<<10)
	for {
		if len(buf) == cap(buf) {
			next := min(2*int64(cap(buf)), s.cfg.MaxBodyBytes+1) // +1: room to see it is over
			if !s.bodies.grow(q.held, next) {
				return busyError()
			}
			q.held = next
			buf = slices.Grow(buf, int(next)-len(buf))
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return bodyReadError(err)
		}
	}
	q.r.Body, q.r.ContentLength = io.NopCloser(bytes.NewReader(buf)), int64(len(buf))
	return nil
}

// admitKey applies the key's own limits, its tokens estimated from the
// body's length.
func (s *Server) admitKey(q *request) *apiError {
	if q.x.key == nil {
		return nil
	}
	l, err := s.store.Admit(q.r.Context(), q.x.key, estimateTokens(q.r))
	if err != nil {
		return admissionError(err)
	}
	q.lease = l
	return nil
}

// takeBodyBudget takes the in-flight body budget a body that declared its
// length needs (one read whole already holds its share).
func (s *Server) takeBodyBudget(q *request) *apiError {
	if !q.hasBody || q.body != nil {
		return nil
	}
	size := min(max(0, q.r.ContentLength), s.cfg.MaxBodyBytes)
	if !s.bodies.grow(0, size) {
		return busyError()
	}
	q.held = size
	return nil
}

// underReadDeadline puts the body under the read deadline and the size
// limit; an answer begun before it was read says Connection: close.
func (s *Server) underReadDeadline(q *request) *deadlineBody {
	_ = q.w.rc.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	q.db = deadlineBody{body: http.MaxBytesReader(q.w, q.r.Body, s.cfg.MaxBodyBytes), rc: q.w.rc}
	q.body = &q.db
	q.r.Body = q.body
	q.w.body = q.body
	return q.body
}

// handle runs the route's handler under the request timeout and the
// shutdown's cut.
func (s *Server) handle(q *request, h handlerFunc) *apiError {
	if q.hasBody && q.body == nil {
		s.underReadDeadline(q)
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	aerr := h(q.w, q.r.WithContext(ctx), q.x)
	if aerr != nil && s.cutCtx.Err() != nil && !clientLeft(q.r) {
		// Cut by the gateway's own shutdown, not failed upstream.
		aerr = drainingError()
	}
	return aerr
}

// finish ends the request: its body budget and key lease given back, the
// error written unless the client left or the answer began, the access
// log line and the metrics.
func (s *Server) finish(q *request, aerr *apiError) {
	s.bodies.give(q.held)
	x, r, rw := q.x, q.r, q.w
	q.lease.End(max(0, x.inTokens) + max(0, x.outTokens))
	// A client that went away (disconnected, or gave up) is not an
	// upstream failure: its call was cancelled, nothing is written, and
	// the log and metrics say 499 as nginx does.
	clientGone := clientLeft(r) && (q.body == nil || !q.body.timedOut) && x.cut == "" && !x.complete
	unread := q.hasBody && (q.body == nil || !q.body.done)
	if aerr != nil && !rw.wrote && !clientGone {
		if unread {
			// A body refused before it was read closes its connection: a
			// body that trickles in must not hold it while net/http
			// drains it.
			rw.Header().Set("Connection", "close")
		}
		x.format.writeError(rw, aerr)
	}
	if unread {
		// net/http would read what is left of the body before closing
		// (up to 256 KiB, however slowly it trickles): end that read at
		// once; the connection closes, as the answer said.
		_ = rw.rc.SetReadDeadline(time.Now())
	}
	status := rw.code()
	if clientGone {
		status = statusClientClosed
	}
	s.record(q, status)
}

// record counts the request in the metrics and writes its access log line.
func (s *Server) record(q *request, status int) {
	x, d := q.x, time.Since(q.start)
	model := s.router.labelFor(x.model)
	m, code := s.metrics, statusLabel(status)
	m.requestsBy.get([4]string{q.route, model, x.endpoint, code}).Inc()
	m.totalBy.get(q.route).Observe(d.Seconds())
	if x.endpoint != "" {
		m.upstreamBy.get(x.endpoint).Observe(x.upstream.Seconds())
	}
	if x.costBasis == costUnknown {
		m.unknownBy.get([2]string{keyLabel(x.key), model}).Inc()
	} else if x.costBasis != "" {
		m.spendBy.get([2]string{keyLabel(x.key), model}).Add(x.costUSD)
	}
	if key := x.key; key != nil {
		m.keyReqsBy.get([3]string{key.Name(), model, code}).Inc()
		if x.inTokens > 0 {
			m.keyTokensBy.get([3]string{key.Name(), model, "input"}).Add(float64(x.inTokens))
		}
		if x.outTokens > 0 {
			m.keyTokensBy.get([3]string{key.Name(), model, "output"}).Add(float64(x.outTokens))
		}
	}
	if s.access == nil {
		return
	}
	q.line = accessLine{q: q, status: status, d: d}
	s.access.Info("request", zap.Inline(&q.line))
}

// accessLine is a request's access log fields, added by the encoder
// straight from the request: one field to pass instead of eleven.
type accessLine struct {
	q      *request
	status int
	d      time.Duration
}

func (l *accessLine) MarshalLogObject(e zapcore.ObjectEncoder) error {
	x := l.q.x
	e.AddString("method", l.q.r.Method)
	e.AddString("route", l.q.route)
	e.AddString("model", truncate(x.model))
	e.AddString("endpoint", x.endpoint)
	e.AddInt64("status", int64(l.status))
	e.AddDuration("duration", l.d)
	e.AddDuration("upstream_duration", x.upstream)
	e.AddInt64("attempts", int64(x.attempts))
	e.AddString("cut", x.cut)
	e.AddFloat64("cost_usd", x.costUSD)
	e.AddString("cost", x.costBasis)
	return nil
}

// statusLabel is a status code as a label, without formatting the common
// ones.
func statusLabel(status int) string {
	switch status {
	case http.StatusOK:
		return "200"
	case http.StatusTooManyRequests:
		return "429"
	}
	return strconv.Itoa(status)
}

// clientLeft reports whether r's context ended because its client went
// away (net/http cancels it when the connection closes) rather than by
// the gateway's shutdown cut, which every request's context derives from.
func clientLeft(r *http.Request) bool {
	return r.Context().Err() != nil && context.Cause(r.Context()) != errShutdown
}

// keyLabel is a key's metrics label: its name, "" without auth.
func keyLabel(k *admission.Key) string {
	if k == nil {
		return ""
	}
	return k.Name()
}

// statusClientClosed is nginx's status for a request whose client closed
// the connection before the answer.
const statusClientClosed = 499

// authorized finds the client's key, compared in constant time against
// every key: Authorization with the Bearer scheme in any case (RFC 9110),
// else x-api-key as Anthropic's clients send it. Without keys every request
// is authorized, with no key.
func (s *Server) authorized(r *http.Request) (*admission.Key, bool) {
	if s.keys.Len() == 0 {
		return nil, true
	}
	got := r.Header.Get("X-Api-Key")
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		got = strings.TrimSpace(token)
	}
	k := s.keys.Find(got)
	return k, k != nil
}

// estimateTokens is a request's token cost before it is served: a quarter
// of its body's length (declared, or read for a chunked body); the
// answer's usage corrects it.
func estimateTokens(r *http.Request) int {
	return int(max(0, r.ContentLength) / 4)
}

// statusWriter remembers the status and whether anything was written, and
// extends the connection's write deadline on every write: a stream lives as
// long as its events flow, a client that stops reading is cut.
type statusWriter struct {
	http.ResponseWriter
	sent    int64 // body bytes written
	rc      *http.ResponseController
	timeout time.Duration
	// extended is when the write deadline was last moved.
	extended time.Time
	body     *deadlineBody // the request's, nil without one
	status   int
	wrote    bool
}

// extend moves the write deadline to timeout from now, unless it was
// moved less than a sixteenth of that ago (an answer's header and body,
// a stream's events in a burst): a write then has at least 15/16 of the
// timeout, and the connection's deadline is set once, not per write.
func (w *statusWriter) extend() {
	now := time.Now()
	if !w.extended.IsZero() && now.Sub(w.extended) < w.timeout/16 {
		return
	}
	w.extended = now
	_ = w.rc.SetWriteDeadline(now.Add(w.timeout))
}

// begin records the answer's status; an answer begun before the request's
// body was read to its end closes the connection, which the body's rest
// would otherwise hold.
func (w *statusWriter) begin(code int) {
	w.status, w.wrote = code, true
	if w.body != nil && !w.body.done {
		w.Header().Set("Connection", "close")
	}
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.begin(code)
	}
	w.extend()
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.begin(http.StatusOK)
	}
	w.extend()
	n, err := w.ResponseWriter.Write(b)
	w.sent += int64(n)
	return n, err
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
