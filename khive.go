package khive

import (
	"context"
	"errors"

	"go.uber.org/fx"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/fxmodule"
	"github.com/khive-go/khive/internal/fielderr"
)

// Module is the fx module: fx.New(fx.Supply(cfg), khive.Module, ...). It
// needs a Config in the graph: without fx.Supply(cfg), fx reports "missing
// type: fxmodule.Config", the name behind this package's alias.
var Module = fxmodule.Module

// Config is the module's configuration (fxmodule.Config).
type Config = fxmodule.Config

// EndpointConfig is one endpoint of a Config.
type EndpointConfig = fxmodule.EndpointConfig

// Registry holds the application's endpoints (fxmodule.Registry):
//
//	Get(name string) (*endpoint.Endpoint, bool)
//	Names() []string                 // sorted
//	All() []*endpoint.Endpoint       // sorted by name
//
// Endpoints are started by the module's OnStart hooks: call them from your
// own OnStart hook or later, not inside fx.Invoke (they are not started
// yet there and answer endpoint.ErrNotStarted).
type Registry = fxmodule.Registry

// LoadConfig reads and validates a YAML config file.
func LoadConfig(path string) (Config, error) { return fxmodule.LoadConfig(path) }

// Named provides each named endpoint as an *endpoint.Endpoint tagged
// name:"<name>", for services' fx.In structs (fxmodule.Named):
//
//	Chat *endpoint.Endpoint `name:"chat"`
//
// A name not in the config fails fx.New, listing the configured names.
func Named(names ...string) fx.Option { return fxmodule.Named(names...) }

// EndpointOptions are options for one configured endpoint, given through
// the value group "khive.endpoint_options" (fxmodule.EndpointOptions).
type EndpointOptions = fxmodule.EndpointOptions

// WithEndpointOptions gives the configured endpoint name extra options (an
// SDK factory, a round tripper, a logger), after the module's own.
func WithEndpointOptions(name string, opts ...endpoint.Option) fx.Option {
	return fxmodule.WithEndpointOptions(name, opts...)
}

// ConfigYAML provides the module's Config from YAML text (an embedded
// config), read as LoadConfig reads a file (fxmodule.ConfigYAML).
func ConfigYAML(yaml string) fx.Option { return fxmodule.ConfigYAML(yaml) }

// Run builds an fx app of opts, starts it, calls job with the T it
// provides, and stops it whatever job returned; it returns job's error and
// Stop's joined (fxmodule.Run):
//
//	err := khive.Run(ctx, fx.Options(cfg, khive.Module, fx.Provide(NewService)), func(ctx context.Context, s *Service) error {
//		return s.Batch(ctx)
//	})
func Run[T any](ctx context.Context, opts fx.Option, job func(context.Context, T) error) error {
	return fxmodule.Run(ctx, opts, job)
}

// FieldError is one problem with a config field: Path names the field as
// the YAML spells it ("endpoints.chat.timeout", "gateway.keys[0].sha256"),
// Msg says what is wrong. Every validator in khive (Config, endpoint,
// executor, gateway) reports these, joined with errors.Join; match one
// with errors.As, or list them all with FieldErrors.
type FieldError = fielderr.Error

// FieldErrors lists every *FieldError err holds, in order, flattening
// joins of joins; nil for none.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	for _, e := range fielderr.Unjoin(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			out = append(out, fe)
		}
	}
	return out
}
