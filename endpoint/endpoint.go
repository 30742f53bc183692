package endpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/internal/hooks"
	"github.com/khive-go/khive/internal/stopping"
	"github.com/khive-go/khive/internal/wait"
)

// Endpoint is one configured API endpoint: a pooled client, its limits,
// retries, circuit breaker and cache. Build it with New, open it with Start,
// drain and close it with Stop. Safe for concurrent use.
type Endpoint struct {
	cfg         Config      // with defaults applied
	log         *zap.Logger // with the endpoint's fields
	rawLog      *zap.Logger // as given, for the endpoint's executor
	logSet      bool        // WithLogger was given
	base        string      // BaseURL without a trailing slash
	origin      *url.URL    // the base URL's scheme and host, for the managed client
	managed     *http.Client
	fixedURL    string      // the request URL when Path has no {param}
	fixedParsed *url.URL    // fixedURL parsed once, nil when it does not parse or names no host
	header      http.Header // content type, defaults and auth
	authKey     string      // the canonical auth header name, "" for none
	defaults    map[string]json.RawMessage
	sdkFactory  SDKFactory
	dialect     Dialect
	tp          trace.TracerProvider
	mp          metric.MeterProvider
	tel         telemetry
	gauge       metric.Registration // the queue-depth callback, while started
	baseRT      http.RoundTripper
	rnd         func() float64
	sleep       func(ctx context.Context, d time.Duration) error
	breaker     *breaker
	cache       *cache
	adaptive    []*executor.AdaptiveLimiter
	shared      executor.SharedLimiter
	learns      bool // answers are fed back to the limits

	state      atomic.Int32
	mu         sync.Mutex // serialises Start and Stop
	stopCalled bool       // Stop has begun (the state moves once it stops serving)
	stopDone   chan struct{}
	stopErr    error
	calls      *executor.Pool // tracks calls and streams for the drain; no limits
	pool       *executor.Pool // admits each attempt: rate limits, slots, max_wait
	client     atomic.Pointer[client]

	retries    atomic.Int64
	hintWarned atomic.Bool // a pause over retry.max_retry_after was logged
}

type client struct {
	http *http.Client
	sdk  SDKClient // nil for transport http
	// ownTransport: the endpoint built the transport, with its timeouts.
	ownTransport bool
}

const (
	stateNew int32 = iota
	stateStarted
	stateStopping
)

// New validates cfg and builds the endpoint. It opens nothing.
func New(cfg Config, opts ...Option) (*Endpoint, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", cfg.Name, err)
	}
	cfg = cfg.withDefaults()
	e := &Endpoint{
		cfg:      cfg,
		log:      zap.NewNop(),
		base:     strings.TrimRight(cfg.BaseURL, "/"),
		rnd:      defaultRand,
		sleep:    wait.Sleep,
		dialect:  GenericDialect{},
		stopDone: make(chan struct{}),
	}
	for _, o := range opts {
		o.apply(e)
	}
	e.initTelemetry()
	origin, err := url.Parse(e.base)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: base_url: %w", cfg.Name, err)
	}
	e.origin = &url.URL{Scheme: origin.Scheme, Host: origin.Host}
	e.managed = &http.Client{Transport: managedTransport{e}}
	if cfg.Transport == TransportSDK && e.sdkFactory == nil {
		return nil, fmt.Errorf("endpoint %q: %w", cfg.Name, ErrNoSDK)
	}
	if !strings.Contains(cfg.Path, "{") {
		e.fixedURL = e.base
		if cfg.Path != "" {
			e.fixedURL += "/" + strings.TrimPrefix(cfg.Path, "/")
		}
		if u, err := url.Parse(e.fixedURL); err == nil && u.Host != "" {
			e.fixedParsed = u
		}
	}
	e.setLogger(e.log)
	e.header = http.Header{"Content-Type": {cfg.ContentType}, "Accept": {"application/json"}}
	for k, v := range cfg.Headers {
		e.header.Set(k, v)
	}
	switch cfg.Auth {
	case AuthBearer:
		e.authKey = "Authorization"
		e.header.Set(e.authKey, "Bearer "+cfg.APIKey.Reveal())
	case AuthXAPIKey:
		e.authKey = "X-Api-Key"
		e.header.Set(e.authKey, cfg.APIKey.Reveal())
	case AuthHeader:
		e.authKey = http.CanonicalHeaderKey(cfg.AuthHeaderName)
		e.header.Set(e.authKey, cfg.APIKey.Reveal())
	}
	if len(cfg.Defaults) > 0 {
		e.defaults = make(map[string]json.RawMessage, len(cfg.Defaults))
		for k, v := range cfg.Defaults {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("endpoint %q: defaults.%s: %w", cfg.Name, k, err)
			}
			e.defaults[k] = b
		}
	}
	if !cfg.Breaker.Disabled {
		e.breaker = newBreaker(cfg.Breaker, func(from, to BreakerState) {
			e.log.Warn("circuit breaker state changed", zap.Stringer("from", from), zap.Stringer("to", to))
		})
	}
	if cfg.Cache.TTL > 0 {
		e.cache = newCache(cfg.Cache)
	}
	adaptive, err := cfg.Limits.AdaptiveLimiters() // built here so that a share set before Start holds
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: limits: %w", cfg.Name, err)
	}
	e.adaptive = adaptive
	e.learns = cfg.Limits.Adaptive || cfg.Limits.TokensPerMinute > 0
	return e, nil
}

func (e *Endpoint) setLogger(l *zap.Logger) {
	e.rawLog = l
	e.log = l.With(zap.String("component", "endpoint"), zap.String("name", e.cfg.Name),
		zap.String("provider", e.cfg.Provider), zap.String("transport", e.cfg.Transport))
}

// inheritContext runs an attempt's lease under the call's ctx, which the
// endpoint's call tracker cancels at shutdown (executor's hook; set by its
// init, which runs before this package's variables are initialized).
var inheritContext = hooks.InheritContext.(executor.TaskOption)

func init() {
	hooks.EndpointLogger = func(e any, l *zap.Logger) { e.(*Endpoint).useLoggerIfUnset(l) }
	hooks.EndpointShare = func(e any, f float64) { e.(*Endpoint).setAdaptiveShare(f) }
}

// useLoggerIfUnset gives an endpoint built without WithLogger the logger l
// (named "endpoint"), so that its close failures are logged; the fx module
// calls it for the endpoints users add through its group. It does nothing
// once a logger is set, or after Start.
func (e *Endpoint) useLoggerIfUnset(l *zap.Logger) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if l == nil || e.logSet || e.state.Load() != stateNew {
		return
	}
	e.logSet = true
	e.setLogger(l.Named("endpoint"))
}

// Name is the endpoint's configured name.
func (e *Endpoint) Name() string { return e.cfg.Name }

// setAdaptiveShare makes an adaptive endpoint claim part f of what the
// provider's headers say (executor.AdaptiveLimiter.SetShare): 1/N when N
// processes call the provider with one key. It does nothing to an endpoint
// that is not adaptive.
func (e *Endpoint) setAdaptiveShare(f float64) {
	for _, a := range e.adaptive {
		a.SetShare(f)
	}
}

// Dialect is how the endpoint reads its provider's answers.
func (e *Endpoint) Dialect() Dialect { return e.dialect }

// Config is the endpoint's config with defaults applied.
func (e *Endpoint) Config() Config { return e.cfg }

// BreakerState is the circuit breaker's state (closed when disabled).
func (e *Endpoint) BreakerState() BreakerState {
	if e.breaker == nil {
		return BreakerClosed
	}
	return e.breaker.State()
}

// RequestRate is the request rate per second the endpoint admits now: the
// adaptive limiter's current rate when adaptive (+Inf before anything was
// learned without a ceiling), else the configured rate; 0 when there is no
// request limit.
func (e *Endpoint) RequestRate() float64 {
	for _, a := range e.adaptive {
		if a.Window() == executor.Requests {
			return a.Limit()
		}
	}
	return e.cfg.Limits.RequestRate()
}

// Retries is the number of retry attempts made so far.
func (e *Endpoint) Retries() int64 { return e.retries.Load() }

// Stats are the counters of the endpoint's admissions, one per attempt:
// Submitted counts attempts, Rejected the refused ones (queue full, over
// max_wait), Running the requests and streams holding a slot; zero before
// Start.
func (e *Endpoint) Stats() executor.Stats {
	e.mu.Lock()
	p := e.pool
	e.mu.Unlock()
	if p == nil {
		return executor.Stats{}
	}
	return p.Stats()
}

// sdkClient is the SDK client of a started endpoint with transport sdk, or
// nil.
func (e *Endpoint) sdkClient() SDKClient {
	if c := e.client.Load(); c != nil {
		return c.sdk
	}
	return nil
}

// Start creates the client and the endpoint's executor. It is idempotent;
// after Stop it returns ErrClosed. A failed Start leaves nothing open.
func (e *Endpoint) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.stopCalled:
		return fmt.Errorf("endpoint %q: %w", e.cfg.Name, ErrClosed)
	case e.state.Load() == stateStarted:
		return nil
	}
	opts := []executor.Option{executor.WithLogger(e.rawLog)}
	for _, a := range e.adaptive {
		opts = append(opts, executor.WithAdaptiveLimiter(a))
	}
	if e.shared != nil {
		opts = append(opts, executor.WithSharedLimiter(e.shared))
	}
	pool, err := executor.New(executor.Config{Name: e.cfg.Name, Limits: e.cfg.Limits}, opts...)
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", e.cfg.Name, err)
	}
	calls, err := executor.New(executor.Config{Name: e.cfg.Name + " calls"}, executor.WithLogger(e.rawLog))
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", e.cfg.Name, err)
	}
	c := &client{http: newHTTPClient(e.cfg, e.baseRT), ownTransport: e.baseRT == nil}
	if e.cfg.Transport == TransportSDK {
		sdk, err := e.sdkFactory(ctx, e.cfg, c.http)
		if err != nil {
			c.http.CloseIdleConnections()
			return fmt.Errorf("endpoint %q: start sdk client: %w", e.cfg.Name, err)
		}
		c.sdk = sdk
	}
	if err := errors.Join(pool.Start(ctx), calls.Start(ctx)); err != nil {
		e.closeClient(ctx, c)
		return fmt.Errorf("endpoint %q: %w", e.cfg.Name, err)
	}
	e.pool, e.calls = pool, calls
	e.registerGauges(pool)
	e.client.Store(c)
	e.state.Store(stateStarted)
	e.log.Debug("endpoint started", zap.String("base_url", e.base))
	return nil
}

// Stop refuses new calls with ErrClosed, waits for in-flight calls and open
// streams until its deadline less a reserve (executor.Pool.Stop's: a
// quarter of the time left, at least 100 ms, at most 2 s), cancels what is
// left (a call cut so fails with ErrClosed) and waits for it until a quarter of the
// reserve is left, then releases the client (its Close bounded by the
// deadline) and clears the reference. It returns before ctx's deadline. A
// close failure (or panic) is logged once at Error and returned; the
// reference is cleared anyway. Stop is idempotent: later calls wait for the
// first and return its result.
func (e *Endpoint) Stop(ctx context.Context) error {
	plan, release := stopping.From(ctx)
	defer release()
	e.mu.Lock()
	if e.stopCalled {
		e.mu.Unlock()
		select {
		case <-e.stopDone:
			return e.stopErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.stopCalled = true
	e.mu.Unlock()
	defer close(e.stopDone)
	// Serve until the plan says stop: the fx module has endpoints serve the
	// calls of the shared executor's draining tasks.
	plan.Begin()
	e.mu.Lock()
	wasStarted := e.state.Swap(stateStopping) == stateStarted
	pool, calls := e.pool, e.calls
	e.mu.Unlock()
	if !wasStarted {
		return nil
	}

	var errs []error
	// Calls first (between attempts a call holds no admission), then the
	// admissions, which are empty by then; both on the one plan.
	inner := stopping.With(ctx, plan.Inner())
	if err := calls.Stop(inner); err != nil {
		errs = append(errs, fmt.Errorf("endpoint %q: drain: %w", e.cfg.Name, err))
	}
	if err := pool.Stop(inner); err != nil {
		errs = append(errs, fmt.Errorf("endpoint %q: drain: %w", e.cfg.Name, err))
	}
	if c := e.client.Swap(nil); c != nil {
		cctx, cancel := plan.CloseContext(ctx)
		if err := e.closeClient(cctx, c); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	if e.gauge != nil {
		_ = e.gauge.Unregister()
	}
	e.stopErr = errors.Join(errs...)
	e.log.Debug("endpoint stopped", zap.Int64("retries", e.retries.Load()))
	return e.stopErr
}

// closeClient releases c: the SDK's own close, then always the endpoint's
// HTTP pool. A failure is logged once and returned.
func (e *Endpoint) closeClient(ctx context.Context, c *client) error {
	var err error
	if c.sdk != nil {
		err = closeSDK(ctx, c.sdk)
	}
	c.http.CloseIdleConnections()
	if err == nil {
		return nil
	}
	err = fmt.Errorf("endpoint %q: close client: %w", e.cfg.Name, err)
	e.log.Error("endpoint close failed", zap.Error(err))
	return err
}

// usable returns the error for a call made outside the started state.
func (e *Endpoint) usable() error {
	switch e.state.Load() {
	case stateStarted:
		return nil
	case stateNew:
		return fmt.Errorf("endpoint %q: %w", e.cfg.Name, ErrNotStarted)
	}
	return fmt.Errorf("endpoint %q: %w", e.cfg.Name, ErrClosed)
}

// poolErr maps executor admission errors to the endpoint's.
func (e *Endpoint) poolErr(err error) error {
	if errors.Is(err, executor.ErrClosed) {
		return fmt.Errorf("endpoint %q: %w", e.cfg.Name, ErrClosed)
	}
	if errors.Is(err, executor.ErrQueueFull) || errors.Is(err, executor.ErrCostTooHigh) || errors.Is(err, executor.ErrOverloaded) {
		return fmt.Errorf("endpoint %q: %w", e.cfg.Name, err)
	}
	return err
}

func (e *Endpoint) isAuthHeader(k string) bool {
	return e.authKey != "" && http.CanonicalHeaderKey(k) == e.authKey
}
