package providers

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/internal/fielderr"
	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/openai"
)

// DialectOf is the dialect of a catalog provider (openai.Dialect,
// anthropic.Dialect, exa.Dialect), endpoint.GenericDialect for any other.
func DialectOf(provider string) endpoint.Dialect {
	if p, ok := catalog[provider]; ok && p.Dialect != nil {
		return p.Dialect
	}
	return endpoint.GenericDialect{}
}

// SDKOf is the official SDK factory of a catalog provider that lists
// transport "sdk" (openai-go for OpenAI-compatible providers,
// anthropic-sdk-go for Anthropic); false for any other provider.
func SDKOf(provider string) (endpoint.SDKFactory, bool) {
	p, ok := catalog[provider]
	if !ok || !slices.Contains(p.Transports, endpoint.TransportSDK) {
		return nil, false
	}
	if p.Dialect == anthropic.Dialect {
		return anthropic.NewSDK, true
	}
	return openai.NewSDK, true
}

// NewEndpoint builds an endpoint from cfg with its provider's dialect and,
// for transport "sdk", its provider's SDK (SDKOf). Options given win over
// both. Transport "sdk" for a provider without one needs an
// endpoint.WithSDK among opts; without it NewEndpoint fails, as
// endpoint.New does, naming the providers that have one.
func NewEndpoint(cfg endpoint.Config, opts ...endpoint.Option) (*endpoint.Endpoint, error) {
	base := []endpoint.Option{endpoint.WithDialect(DialectOf(cfg.Provider))}
	if cfg.Transport == endpoint.TransportSDK {
		if f, ok := SDKOf(cfg.Provider); ok {
			base = append(base, endpoint.WithSDK(f))
		}
	}
	e, err := endpoint.New(cfg, append(base, opts...)...)
	if errors.Is(err, endpoint.ErrNoSDK) {
		return nil, fmt.Errorf("endpoint %q: %w", cfg.Name, NoSDKError(cfg.Provider))
	}
	return e, err
}

// NoSDKError is the error of transport "sdk" for a provider without an
// SDK in the catalog, as a field error on "transport".
func NoSDKError(provider string) error {
	var with []string
	for _, name := range Names() {
		if _, ok := SDKOf(name); ok {
			with = append(with, name)
		}
	}
	return &fielderr.Error{Path: "transport", Msg: fmt.Sprintf(
		"provider %q has no SDK in khive (transport sdk is for %s); use transport http, or endpoint.WithSDK on an endpoint of your own",
		provider, strings.Join(with, ", "))}
}
