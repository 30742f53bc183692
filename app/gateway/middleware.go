package gateway

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

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
	// usage is what the answer reported (-1 each when it did not).
	inTokens, outTokens int
}

// noteUsage keeps the tokens an answer reports.
func (x *exchange) noteUsage(a endpoint.Answer) {
	if a.InputTokens >= 0 {
		x.inTokens = a.InputTokens
	}
	if a.OutputTokens >= 0 {
		x.outTokens = a.OutputTokens
	}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, x *exchange) *apiError

// api wraps an API route: drain check, auth, body limit, timeout, access
// log and metrics. Errors are written in the route's format.
func (s *Server) api(route string, format *clientFormat, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.inFlight.Inc()
		defer s.metrics.inFlight.Dec()
		rw := &statusWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: s.cfg.WriteTimeout}
		x := &exchange{format: format, inTokens: -1, outTokens: -1}
		var aerr *apiError
		// A request with a body that is refused before the body is read
		// closes its connection: a body that trickles in must not hold it
		// while net/http drains it. A request without one (a GET) keeps its
		// connection: net/http watches it for the client's close from the
		// start, and a read deadline would end that watch as if the client
		// had gone, cancelling every later request on the connection.
		hasBody := r.Body != http.NoBody
		closeUnread := func() {
			if hasBody {
				rw.Header().Set("Connection", "close")
			}
		}
		var body *deadlineBody
		key, authorized := s.authorized(r)
		x.key = key
		var lease *admission.Lease // the key's limits admitted this request: end it at the end
		switch size := bodySize(r, s.cfg.MaxBodyBytes); {
		case s.draining.Load():
			rw.Header().Set("Connection", "close")
			aerr = drainingError()
		case !authorized:
			closeUnread()
			aerr = &apiError{status: http.StatusUnauthorized, typ: "invalid_request_error", code: "invalid_api_key",
				message: "Missing or invalid API key: send Authorization: Bearer KEY (or x-api-key: KEY)"}
		case r.ContentLength > s.cfg.MaxBodyBytes:
			closeUnread()
			aerr = tooLarge(s.cfg.MaxBodyBytes)
		case key != nil && !s.admitKey(r.Context(), key, estimateTokens(r), &aerr, &lease):
			// After the checks that cost nothing: a request refused by
			// them spends none of its key's limits.
			closeUnread()
		case !s.bodies.take(size):
			closeUnread()
			aerr = busyError()
		default:
			if hasBody {
				_ = rw.rc.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
				body = &deadlineBody{body: http.MaxBytesReader(rw, r.Body, s.cfg.MaxBodyBytes), rc: rw.rc}
				r.Body = body
				rw.body = body // an answer begun before the body was read says Connection: close
			}
			ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
			stopCut := context.AfterFunc(s.cutCtx, cancel)
			aerr = h(rw, r.WithContext(ctx), x)
			if aerr != nil && s.cutCtx.Err() != nil && r.Context().Err() == nil {
				// Cut by the gateway's own shutdown, not failed upstream.
				aerr = drainingError()
			}
			stopCut()
			cancel()
			s.bodies.give(size)
		}
		lease.End(max(0, x.inTokens) + max(0, x.outTokens))
		// A client that went away (disconnected, or gave up) is not an
		// upstream failure: its call was cancelled, nothing is written, and
		// the log and metrics say 499 as nginx does.
		clientGone := r.Context().Err() != nil && (body == nil || !body.timedOut) && x.cut == "" && !x.complete
		unread := hasBody && (body == nil || !body.done)
		if aerr != nil && !rw.wrote && !clientGone {
			if unread {
				rw.Header().Set("Connection", "close")
			}
			format.writeError(rw, aerr)
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
		d := time.Since(start)
		model := s.router.labelFor(x.model)
		s.metrics.requests.WithLabelValues(route, model, x.endpoint, strconv.Itoa(status)).Inc()
		s.metrics.total.WithLabelValues(route).Observe(d.Seconds())
		if x.endpoint != "" {
			s.metrics.upstream.WithLabelValues(x.endpoint).Observe(x.upstream.Seconds())
		}
		if key != nil {
			s.metrics.keyRequests.WithLabelValues(key.Name(), model, strconv.Itoa(status)).Inc()
			if x.inTokens > 0 {
				s.metrics.keyTokens.WithLabelValues(key.Name(), model, "input").Add(float64(x.inTokens))
			}
			if x.outTokens > 0 {
				s.metrics.keyTokens.WithLabelValues(key.Name(), model, "output").Add(float64(x.outTokens))
			}
		}
		s.log.Info("request",
			zap.String("method", r.Method), zap.String("route", route), zap.String("model", truncate(x.model)),
			zap.String("endpoint", x.endpoint), zap.Int("status", status), zap.Duration("duration", d),
			zap.Duration("upstream_duration", x.upstream), zap.Int("attempts", x.attempts), zap.String("cut", x.cut))
	})
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

// admitKey applies the key's own limits: true and *leave set when they
// admit the request, false and *aerr set when they refuse it.
func (s *Server) admitKey(ctx context.Context, k *admission.Key, tokens int, aerr **apiError, lease **admission.Lease) bool {
	l, err := s.store.Admit(ctx, k, tokens)
	if err != nil {
		*aerr = admissionError(err)
		return false
	}
	*lease = l
	return true
}

// estimateTokens is a request's token cost before its body is read: a
// quarter of its declared length; the answer's usage corrects it.
func estimateTokens(r *http.Request) int {
	return int(max(0, r.ContentLength) / 4)
}

// statusWriter remembers the status and whether anything was written, and
// extends the connection's write deadline on every write: a stream lives as
// long as its events flow, a client that stops reading is cut.
type statusWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	body    *deadlineBody // the request's, nil without one
	status  int
	wrote   bool
}

func (w *statusWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout)) }

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
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
