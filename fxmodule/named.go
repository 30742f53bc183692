package fxmodule

import (
	"fmt"
	"strings"

	"go.uber.org/fx"

	"github.com/khive-go/khive/endpoint"
)

// Named provides each named endpoint as an *endpoint.Endpoint tagged
// name:"<name>", so that a service takes the endpoints it calls by name:
//
//	type Params struct {
//		fx.In
//		Chat   *endpoint.Endpoint `name:"chat"`
//		Claude *endpoint.Endpoint `name:"claude"`
//	}
//
// A name the registry does not hold fails fx.New, with the names it holds.
func Named(names ...string) fx.Option {
	opts := make([]fx.Option, 0, len(names)+1)
	for _, name := range names {
		opts = append(opts, fx.Provide(fx.Annotate(func(r *Registry) (*endpoint.Endpoint, error) {
			return r.named(name)
		}, fx.ResultTags(`name:"`+name+`"`))))
	}
	// Checked when the graph is built, whether or not anything asks yet.
	opts = append(opts, fx.Invoke(func(r *Registry) error {
		for _, name := range names {
			if _, err := r.named(name); err != nil {
				return err
			}
		}
		return nil
	}))
	return fx.Options(opts...)
}

// named is the endpoint called name, or an error listing the names held.
func (r *Registry) named(name string) (*endpoint.Endpoint, error) {
	if e, ok := r.byName[name]; ok {
		return e, nil
	}
	return nil, fmt.Errorf("khive.Named: no endpoint %q in the config (configured: %s)", name, listed(r.names))
}

// listed is names (sorted) for an error, "none" when there are none.
func listed(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// EndpointOptions are options for the configured endpoint Name (an SDK
// factory, a round tripper, a logger, telemetry providers), applied after
// the module's own, so that they win. Give them to the module through the
// value group "khive.endpoint_options", most simply with
// WithEndpointOptions; a Name the config does not define fails fx.New.
type EndpointOptions struct {
	Name    string
	Options []endpoint.Option
}

// WithEndpointOptions gives the configured endpoint name the options opts.
func WithEndpointOptions(name string, opts ...endpoint.Option) fx.Option {
	return fx.Supply(fx.Annotate(EndpointOptions{Name: name, Options: opts}, fx.ResultTags(`group:"khive.endpoint_options"`)))
}
