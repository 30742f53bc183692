// Package gateway is an OpenAI-compatible HTTP service on khive.Module:
// chat completions (streaming too), embeddings and the model list, routed to
// the configured endpoints with aliases and fallbacks.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"golang.org/x/net/netutil"

	"github.com/khive-go/khive/app/gateway/admission"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/fxmodule"
	"github.com/khive-go/khive/internal/hooks"
	"github.com/khive-go/khive/internal/wait"
)

// Module runs the gateway's HTTP server in an fx app beside khive.Module.
var Module = fx.Module("gateway",

	fx.Provide(newStore, newServer, sharedLimits),
	fx.Invoke(func(*Server) {}),
)

// Server is the gateway.
type Server struct {
	cfg     Config
	log     *zap.Logger
	reg     *fxmodule.Registry
	router  *router
	metrics *metrics
	keys    *admission.Keyring
	store   admission.Store
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
	tracer   trace.Tracer
	tracing  *tracing
	access   *zap.Logger // the access log; nil when it is off
	items    items       // output items of translated responses, for item_reference
}

// params are newServer's inputs. Depending on the Registry and the shared
// executor puts the server's hooks after theirs: it stops first, and
// khive's shutdown (run by the executor's hook) comes after its drain. The
// gateway does not run requests on the shared executor: each request is
// admitted once, by the endpoint it calls.
type params struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    Config
	Registry  *fxmodule.Registry
	Executor  executor.Executor
	// Store counts client keys' limits; depending on it puts its hooks
	// first, so it closes after the server has drained.
	Store  admission.Store
	Logger *zap.Logger `optional:"true"`
	// TracerProvider and MeterProvider, when the graph has them, receive the
	// gateway's server spans; else the global providers do.
	TracerProvider trace.TracerProvider `optional:"true"`
	MeterProvider  metric.MeterProvider `optional:"true"`
}

// newServer validates the gateway config against the registry and
// registers the server's Start and Stop.
func newServer(p params) (*Server, error) {
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
		metrics: newMetrics(p.Registry.All(), p.Store),
		store:   p.Store,
		bodies:  &bodyBudget{limit: cfg.MaxInflightBodyBytes},
	}
	s.items = items{store: p.Store, log: s.log}
	if cfg.AccessLog == nil || *cfg.AccessLog {
		// A line per request: its caller would be the same line each time.
		s.access = s.log.WithOptions(zap.WithCaller(false))
	}
	cutCtx, cancelCut := context.WithCancelCause(context.Background())
	// Marked: the gateway cuts its requests before the endpoints stop, so
	// their calls need no cut of the endpoints' own.
	s.cutCtx, s.cut = hooks.WithCallerCuts(cutCtx), func() { cancelCut(errShutdown) }
	s.keys = admission.NewKeyring(cfg.Keys, cfg.Teams)
	if p.Store.Health().Shared {
		// Adaptive endpoints claim their replica's share of what the
		// provider's headers say is left.
		p.Store.OnReplicas(func(n int64) {
			for _, e := range p.Registry.All() {
				hooks.EndpointShare(e, 1/float64(n))
			}
		})
	}
	tp, mp := p.TracerProvider, p.MeterProvider
	s.tracing = &tracing{explicit: tp != nil || mp != nil, global: otel.GetTracerProvider}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	s.tracer = tp.Tracer("github.com/khive-go/khive/app/gateway")
	// A server span per request, W3C trace context taken from the client:
	// the endpoints' spans are its children, and traceparent goes upstream.
	// Without a provider that records, none of it: the plain handler.
	plain := s.handler()
	handler := s.tracing.traced(otelhttp.NewHandler(plain, "gateway", otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path })), plain)
	s.srv = &http.Server{
		Handler: handler,
		// Every connection's context, and so every request's, is cut with
		// cutCtx (its cause errShutdown): one registration per connection,
		// none per request.
		BaseContext:       func(net.Listener) context.Context { return s.cutCtx },
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          zap.NewStdLog(s.log),
	}
	p.Lifecycle.Append(fx.Hook{OnStart: s.start, OnStop: s.stop})
	return s, nil
}

// Addr is the address the server listens on, once started.
func (s *Server) Addr() string {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// start listens and serves in the background.
func (s *Server) start(context.Context) error {
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
		zap.Bool("auth", s.keys.Len() > 0), zap.Int("max_connections", s.cfg.MaxConnections))
	return nil
}

// cutGrace is how long cut streams get to write their error event.
const cutGrace = time.Second

// stop turns readyz to 503, stops accepting, lets in-flight requests and
// streams finish for up to shutdown_timeout, then cuts what is left.
func (s *Server) stop(ctx context.Context) error {
	s.ready.Store(false)
	s.draining.Store(true)
	s.stopModels()
	s.log.Info("gateway draining", zap.Duration("shutdown_timeout", s.cfg.ShutdownTimeout), zap.Duration("drain_delay", s.cfg.DrainDelay))
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DrainDelay+s.cfg.ShutdownTimeout)
	defer cancel()
	if s.cfg.DrainDelay > 0 {
		_ = wait.Sleep(dctx, s.cfg.DrainDelay)
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

type storeParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    Config
	Logger    *zap.Logger `optional:"true"`
}

// newStore builds the configured admission store; its hooks connect it
// before the server starts and close it after the server has drained.
func newStore(p storeParams) (admission.Store, error) {
	log := p.Logger
	if log == nil {
		log = zap.NewNop()
	}
	st, err := admission.Open(p.Config.Store, log.Named("store"))
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.Hook{OnStart: st.Start, OnStop: st.Stop})
	return st, nil
}

// sharedLimits hands khive's registry the Redis store, so that endpoints
// with configured rates share them across replicas; none with memory.
func sharedLimits(s admission.Store) fxmodule.SharedLimits {
	if !s.Health().Shared {
		return nil
	}
	return s
}
