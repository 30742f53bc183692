// Package gateway is an OpenAI-compatible HTTP service on khive.Module:
// chat completions (streaming too), embeddings and the model list, routed to
// the configured endpoints with aliases and fallbacks.
package gateway

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"golang.org/x/net/netutil"

	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/fxmodule"
)

// Module runs the gateway's HTTP server in an fx app beside khive.Module.
var Module = fx.Module("gateway",
	fx.Provide(NewServer),
	fx.Invoke(func(*Server) {}),
)

// Server is the gateway.
type Server struct {
	cfg     Config
	log     *zap.Logger
	reg     *fxmodule.Registry
	router  *router
	metrics *metrics
	keys    [][]byte
	bodies  *bodyBudget
	srv     *http.Server
	addr    atomic.Pointer[string]

	ready    atomic.Bool // started and not draining
	draining atomic.Bool
	served   chan error
	// cut ends every request still running when the drain time is up, so
	// streams can tell their clients before the connections close.
	cutCtx context.Context
	cut    context.CancelFunc

	upModels *upstreamModels
}

// Params are NewServer's inputs. Depending on the Registry and the shared
// executor puts the server's hooks after theirs: it stops first, and
// khive's shutdown (run by the executor's hook) comes after its drain. The
// gateway does not run requests on the shared executor: each request is
// admitted once, by the endpoint it calls.
type Params struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    Config
	Registry  *fxmodule.Registry
	Executor  executor.Executor
	Logger    *zap.Logger `optional:"true"`
}

// NewServer validates the gateway config against the registry and
// registers the server's Start and Stop.
func NewServer(p Params) (*Server, error) {
	cfg := p.Config.WithDefaults()
	if err := cfg.Validate(registryConfigs(p.Registry)); err != nil {
		return nil, err
	}
	log := p.Logger
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{
		cfg:     cfg,
		log:     log.Named("gateway"),
		reg:     p.Registry,
		router:  &router{reg: p.Registry, aliases: cfg.Models},
		metrics: newMetrics(p.Registry.All()),
		bodies:  &bodyBudget{limit: cfg.MaxInflightBodyBytes},
	}
	s.cutCtx, s.cut = context.WithCancel(context.Background())
	for _, k := range cfg.clientKeys() {
		s.keys = append(s.keys, []byte(k))
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          zap.NewStdLog(s.log),
	}
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s, nil
}

// Addr is the address the server listens on, once started.
func (s *Server) Addr() string {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// Start listens and serves in the background.
func (s *Server) Start(context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("gateway: listen: %w", err)
	}
	ln = netutil.LimitListener(ln, s.cfg.MaxConnections)
	addr := ln.Addr().String()
	s.addr.Store(&addr)
	s.served = make(chan error, 1)
	go func() { s.served <- s.srv.Serve(ln) }()
	s.startModels()
	s.ready.Store(true)
	s.log.Info("gateway listening", zap.String("addr", addr), zap.Strings("endpoints", s.reg.Names()),
		zap.Bool("auth", len(s.keys) > 0), zap.Int("max_connections", s.cfg.MaxConnections))
	return nil
}

// Stop turns readyz to 503, stops accepting, lets in-flight requests and
// streams finish for up to shutdown_timeout, then cuts what is left.
func (s *Server) Stop(ctx context.Context) error {
	s.ready.Store(false)
	s.draining.Store(true)
	s.stopModels()
	s.log.Info("gateway draining", zap.Duration("shutdown_timeout", s.cfg.ShutdownTimeout), zap.Duration("drain_delay", s.cfg.DrainDelay))
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DrainDelay+s.cfg.ShutdownTimeout)
	defer cancel()
	if s.cfg.DrainDelay > 0 {
		_ = executor.Sleep(dctx, s.cfg.DrainDelay)
	}
	err := s.srv.Shutdown(dctx)
	if err != nil {
		// Cut what is left: each stream writes an error event in its
		// route's format and ends, then the connections close.
		s.log.Warn("gateway drain deadline passed; cutting open requests", zap.Error(err))
		s.cut()
		gctx, gcancel := context.WithTimeout(ctx, cutGrace)
		if s.srv.Shutdown(gctx) != nil {
			err = errors.Join(err, s.srv.Close())
		}
		gcancel()
	}
	s.cut()
	if serveErr := <-s.served; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	s.log.Info("gateway stopped")
	if errors.Is(err, context.DeadlineExceeded) {
		return nil // cutting streams at the deadline is the documented behaviour, not a failure
	}
	return err
}

// cutGrace is how long cut streams get to write their error event.
const cutGrace = time.Second

// Handler is the gateway's routes with auth, limits and logging.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.Handle("POST /v1/chat/completions", s.api("chat", s.chat, writeError))
	mux.Handle("POST /v1/embeddings", s.api("embeddings", s.embeddings, writeError))
	mux.Handle("GET /v1/models", s.api("models", s.models, writeError))
	mux.Handle("GET /v1/models/{id...}", s.api("models", s.model, writeError))
	mux.Handle("POST /v1/messages", s.api("messages", s.messages, writeAnthropicError))
	return mux
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "draining\n", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// exchange is one API request's record for the access log and metrics.
type exchange struct {
	model    string
	endpoint string
	attempts int
	upstream time.Duration
	cut      string // why a stream was cut after its first byte, "" when it was not
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, x *exchange) *apiError

// api wraps an API route: drain check, auth, body limit, timeout, access
// log and metrics. Errors are written by fail, in the route's format.
func (s *Server) api(route string, h handlerFunc, fail func(http.ResponseWriter, *apiError)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.inFlight.Inc()
		defer s.metrics.inFlight.Dec()
		rw := &statusWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: s.cfg.WriteTimeout}
		x := &exchange{}
		var aerr *apiError
		// Refusals before the body is read close the connection: a body
		// that trickles in must not hold it while net/http drains it.
		var body *deadlineBody
		switch size := bodySize(r, s.cfg.MaxBodyBytes); {
		case s.draining.Load():
			rw.Header().Set("Connection", "close")
			aerr = drainingError()
		case !s.authorized(r):
			rw.Header().Set("Connection", "close")
			aerr = &apiError{status: http.StatusUnauthorized, typ: "invalid_request_error", code: "invalid_api_key",
				message: "Missing or invalid API key: send Authorization: Bearer KEY (or x-api-key: KEY)"}
		case r.ContentLength > s.cfg.MaxBodyBytes:
			rw.Header().Set("Connection", "close")
			aerr = tooLarge(s.cfg.MaxBodyBytes)
		case !s.bodies.take(size):
			rw.Header().Set("Connection", "close")
			aerr = busyError()
		default:
			_ = rw.rc.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
			body = &deadlineBody{body: http.MaxBytesReader(rw, r.Body, s.cfg.MaxBodyBytes), rc: rw.rc}
			r.Body = body
			ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
			stopCut := context.AfterFunc(s.cutCtx, cancel)
			aerr = h(rw, r.WithContext(ctx), x)
			stopCut()
			cancel()
			s.bodies.give(size)
		}
		// A client that went away (disconnected, or gave up) is not an
		// upstream failure: its call was cancelled, nothing is written, and
		// the log and metrics say 499 as nginx does.
		clientGone := r.Context().Err() != nil && (body == nil || !body.timedOut) && x.cut == ""
		if aerr != nil && !rw.wrote && !clientGone {
			if body == nil || !body.done {
				rw.Header().Set("Connection", "close")
			}
			fail(rw, aerr)
		}
		if body == nil || !body.done {
			// net/http would read what is left of the body before closing
			// (up to 256 KiB, however slowly it trickles): end that read at
			// once; the connection closes.
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
		s.log.Info("request",
			zap.String("method", r.Method), zap.String("route", route), zap.String("model", truncate(x.model)),
			zap.String("endpoint", x.endpoint), zap.Int("status", status), zap.Duration("duration", d),
			zap.Duration("upstream_duration", x.upstream), zap.Int("attempts", x.attempts), zap.String("cut", x.cut))
	})
}

// statusClientClosed is nginx's status for a request whose client closed
// the connection before the answer.
const statusClientClosed = 499

// authorized checks the client's key in constant time against every key:
// Authorization with the Bearer scheme in any case (RFC 9110), else
// x-api-key as Anthropic's clients send it.
func (s *Server) authorized(r *http.Request) bool {
	if len(s.keys) == 0 {
		return true
	}
	got := r.Header.Get("X-Api-Key")
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		got = strings.TrimSpace(token)
	}
	match := 0
	for _, k := range s.keys {
		match |= subtle.ConstantTimeCompare([]byte(got), k)
	}
	return match == 1
}

// statusWriter remembers the status and whether anything was written, and
// extends the connection's write deadline on every write: a stream lives as
// long as its events flow, a client that stops reading is cut.
type statusWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	status  int
	wrote   bool
}

func (w *statusWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout)) }

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.extend()
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
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

// String names the server by its address; it prints no client key.
func (s *Server) String() string {
	if s == nil {
		return "gateway <nil>"
	}
	return "gateway on " + s.Addr()
}

// Format prints String under every verb, never the keys the server holds.
func (s *Server) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.String())
}
