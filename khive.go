package khive

import "github.com/khive-go/khive/fxmodule"

// Module is the fx module: fx.New(fx.Supply(cfg), khive.Module, ...).
var Module = fxmodule.Module

// Config is the module's configuration.
type Config = fxmodule.Config

// EndpointConfig is one endpoint of a Config.
type EndpointConfig = fxmodule.EndpointConfig

// Registry holds the application's endpoints.
type Registry = fxmodule.Registry

// LoadConfig reads and validates a YAML config file.
func LoadConfig(path string) (Config, error) { return fxmodule.LoadConfig(path) }
