package providers

import (
	"github.com/khive-go/khive/endpoint"
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

// NewEndpoint builds an endpoint from cfg with its provider's dialect and,
// for transport "sdk", the official SDK of its wire format (openai-go for
// OpenAI-compatible providers, anthropic-sdk-go for Anthropic). Options
// given win over both.
func NewEndpoint(cfg endpoint.Config, opts ...endpoint.Option) (*endpoint.Endpoint, error) {
	base := []endpoint.Option{endpoint.WithDialect(DialectOf(cfg.Provider))}
	if cfg.Transport == endpoint.TransportSDK {
		if p, ok := catalog[cfg.Provider]; ok && p.Dialect == anthropic.Dialect {
			base = append(base, endpoint.WithSDK(anthropic.NewSDK))
		} else {
			base = append(base, endpoint.WithSDK(openai.NewSDK))
		}
	}
	return endpoint.New(cfg, append(base, opts...)...)
}
