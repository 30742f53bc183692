package khive

import "github.com/khive-go/khive/fxmodule"

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
