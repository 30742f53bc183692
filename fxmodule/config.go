package fxmodule

import (
	"errors"
	"maps"
	"slices"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/internal/fielderr"
	"github.com/khive-go/khive/providers"
)

// Config is the module's configuration: the shared executor and the named
// endpoints.
type Config struct {
	Executor  executor.Config           `yaml:"executor"`
	Endpoints map[string]EndpointConfig `yaml:"endpoints"`
}

// EndpointConfig is either a catalog reference (Provider and Endpoint, with
// any other field overriding the catalog's) or, without Endpoint, a full
// endpoint.Config. The map key is the endpoint's name.
type EndpointConfig struct {
	// Endpoint names the catalog endpoint of Provider (chat, embeddings, ...).
	Endpoint        string `yaml:"endpoint"`
	endpoint.Config `yaml:",inline"`
}

// Validate reports every error in the config at once, each with its path
// (executor.burst, endpoints.NAME.timeout, ...). It starts nothing.
func (c Config) Validate() error {
	_, err := c.Resolve()
	return err
}

// Resolve validates the config and returns each endpoint's full config.
func (c Config) Resolve() (map[string]endpoint.Config, error) {
	var errs fielderr.List
	errs.Under("executor", c.executorConfig().Validate())
	out := make(map[string]endpoint.Config, len(c.Endpoints))
	for _, name := range slices.Sorted(maps.Keys(c.Endpoints)) {
		cfg, err := c.Endpoints[name].resolve(name)
		if err != nil {
			errs.Under("endpoints."+name, err)
			continue
		}
		out[name] = cfg
	}
	return out, errs.Err()
}

func (c Config) executorConfig() executor.Config {
	cfg := c.Executor
	if cfg.Name == "" {
		cfg.Name = "khive"
	}
	return cfg
}

func (ec EndpointConfig) resolve(name string) (endpoint.Config, error) {
	cfg := ec.Config
	cfg.Name = name
	if ec.Endpoint != "" {
		if cfg.Provider == "" {
			return cfg, &fielderr.Error{Path: "provider", Msg: "is required with endpoint"}
		}
		matched, err := providers.Match(cfg.Provider, ec.Endpoint, providers.WithOverrides(cfg))
		if err != nil {
			if matched.Provider == "" {
				return cfg, err // unknown provider or endpoint: nothing more to check
			}
			// Report the other fields too, without repeating a field the
			// catalog already named (the key, the transport).
			errs := fielderr.List(fielderr.Unjoin(err))
			named := map[string]bool{}
			for _, e := range errs {
				if fe := (*fielderr.Error)(nil); errors.As(e, &fe) {
					named[fe.Path] = true
				}
			}
			for _, e := range fielderr.Unjoin(matched.Validate()) {
				if fe := (*fielderr.Error)(nil); errors.As(e, &fe) && named[fe.Path] {
					continue
				}
				errs = append(errs, e)
			}
			return cfg, errs.Err()
		}
		cfg = matched
	}
	err := cfg.Validate()
	if cfg.Transport == endpoint.TransportSDK {
		if _, ok := providers.SDKOf(cfg.Provider); !ok {
			// A config's endpoint gets its SDK from the catalog only.
			err = errors.Join(err, providers.NoSDKError(cfg.Provider))
		}
	}
	return cfg, err
}
