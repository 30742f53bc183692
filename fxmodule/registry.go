package fxmodule

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/internal/hooks"
	"github.com/khive-go/khive/providers"
)

// Registry holds the application's endpoints by name: those of the config
// and those users add to the value group "khive.endpoints".
type Registry struct {
	byName map[string]*endpoint.Endpoint
	names  []string
	stop   *shutdown
}

// SharedLimits gives an endpoint a rate limit shared with other processes
// calling the same provider; For returns nil for an endpoint without one.
type SharedLimits interface {
	For(cfg endpoint.Config) executor.SharedLimiter
}

// RegistryParams are NewRegistry's inputs.
type RegistryParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    Config
	Logger    *zap.Logger `optional:"true"`
	// TracerProvider and MeterProvider, when the graph has them, receive the
	// endpoints' spans and metrics; else the global providers do.
	TracerProvider trace.TracerProvider `optional:"true"`
	MeterProvider  metric.MeterProvider `optional:"true"`
	// SharedLimits, when the graph has one, gives each configured endpoint
	// a limit shared with other processes (the gateway's Redis store).
	SharedLimits SharedLimits `optional:"true"`
	// Endpoints are the user's own, built with endpoint.New; the registry
	// gives them the same hooks.
	Endpoints []*endpoint.Endpoint `group:"khive.endpoints"`
	// EndpointOptions add options to configured endpoints, by name.
	EndpointOptions []EndpointOptions `group:"khive.endpoint_options"`
}

// NewRegistry validates the config, builds its endpoints, and registers
// every endpoint's Start and Stop with the lifecycle, sorted by name: fx
// starts them in that order and stops them in reverse.
func NewRegistry(p RegistryParams) (*Registry, error) {
	cfgs, err := p.Config.Resolve()
	if err != nil {
		return nil, fmt.Errorf("khive config: %w", err)
	}
	log := moduleLogger(p.Logger)
	r := &Registry{byName: make(map[string]*endpoint.Endpoint, len(cfgs)+len(p.Endpoints))}
	opts := []endpoint.Option{endpoint.WithLogger(log)}
	if p.TracerProvider != nil {
		opts = append(opts, endpoint.WithTracerProvider(p.TracerProvider))
	}
	if p.MeterProvider != nil {
		opts = append(opts, endpoint.WithMeterProvider(p.MeterProvider))
	}
	extra := make(map[string][]endpoint.Option, len(p.EndpointOptions))
	for _, o := range p.EndpointOptions {
		if _, ok := cfgs[o.Name]; !ok {
			return nil, fmt.Errorf("khive: endpoint options for %q: no such endpoint in the config (configured: %s)",
				o.Name, listed(slices.Sorted(maps.Keys(cfgs))))
		}
		extra[o.Name] = append(extra[o.Name], o.Options...)
	}
	for name, cfg := range cfgs {
		eopts := opts
		if p.SharedLimits != nil {
			if l := p.SharedLimits.For(cfg); l != nil {
				eopts = append(slices.Clip(eopts), endpoint.WithSharedLimiter(l))
			}
		}
		eopts = append(slices.Clip(eopts), extra[name]...)
		e, err := providers.NewEndpoint(cfg, eopts...)
		if err != nil {
			return nil, err
		}
		r.byName[name] = e
	}
	for _, e := range p.Endpoints {
		if e == nil {
			continue
		}
		if _, dup := r.byName[e.Name()]; dup {
			return nil, fmt.Errorf("khive: endpoint %q is defined twice", e.Name())
		}
		hooks.EndpointLogger(e, log) // so that its close failures are logged too
		r.byName[e.Name()] = e
	}
	r.names = slices.Sorted(maps.Keys(r.byName))
	r.stop = &shutdown{reg: r}
	for _, name := range r.names {
		e := r.byName[name]
		p.Lifecycle.Append(fx.Hook{
			OnStart: func(ctx context.Context) error { return e.Start(ctx) },
			// The first khive hook that runs stops every khive component.
			OnStop: r.stop.stop,
		})
	}
	return r, nil
}

// Get returns the endpoint called name.
func (r *Registry) Get(name string) (*endpoint.Endpoint, bool) {
	e, ok := r.byName[name]
	return e, ok
}

// Names lists the endpoints' names, sorted.
func (r *Registry) Names() []string { return slices.Clone(r.names) }

// All lists the endpoints, sorted by name.
func (r *Registry) All() []*endpoint.Endpoint {
	out := make([]*endpoint.Endpoint, len(r.names))
	for i, n := range r.names {
		out[i] = r.byName[n]
	}
	return out
}

// String lists the endpoints by name; it prints no key.
func (r *Registry) String() string {
	if r == nil {
		return "khive registry <nil>"
	}
	return fmt.Sprintf("khive registry %v", r.names)
}

// Format prints String under every verb, never the endpoints' headers.
func (r *Registry) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), r.String())
}
