package providers

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/internal/fielderr"
)

// MatchOption adjusts what Match returns.
type MatchOption interface {
	apply(*matchOptions)
}

type matchOptions struct {
	over   endpoint.Config
	getenv func(string) string
}

type matchOptionFunc func(*matchOptions)

func (f matchOptionFunc) apply(o *matchOptions) { f(o) }

// WithOverrides lays cfg over the catalog's config: every non-zero field
// wins; Headers and Defaults are merged key by key.
func WithOverrides(cfg endpoint.Config) MatchOption {
	return matchOptionFunc(func(o *matchOptions) { o.over = overlay(o.over, cfg) })
}

// WithName sets the endpoint's name (default "PROVIDER-ENDPOINT").
func WithName(name string) MatchOption { return WithOverrides(endpoint.Config{Name: name}) }

// WithBaseURL points the endpoint elsewhere (a proxy, a local server).
func WithBaseURL(u string) MatchOption { return WithOverrides(endpoint.Config{BaseURL: u}) }

// WithAPIKey sets the key instead of reading the provider's variable.
func WithAPIKey(k endpoint.Secret) MatchOption { return WithOverrides(endpoint.Config{APIKey: k}) }

// WithHeaders adds or replaces default headers.
func WithHeaders(h map[string]string) MatchOption { return WithOverrides(endpoint.Config{Headers: h}) }

// WithDefaults adds JSON fields merged into every request body.
func WithDefaults(d map[string]any) MatchOption { return WithOverrides(endpoint.Config{Defaults: d}) }

// WithLimits sets the endpoint's limits.
func WithLimits(l endpoint.Limits) MatchOption { return WithOverrides(endpoint.Config{Limits: l}) }

// WithTransport picks http or sdk.
func WithTransport(t string) MatchOption { return WithOverrides(endpoint.Config{Transport: t}) }

// WithAnthropicVersion sets the anthropic-version header.
func WithAnthropicVersion(v string) MatchOption {
	return WithHeaders(map[string]string{"anthropic-version": v})
}

// WithGetenv replaces os.Getenv for reading keys and OLLAMA_HOST.
func WithGetenv(f func(string) string) MatchOption {
	return matchOptionFunc(func(o *matchOptions) { o.getenv = f })
}

// Match returns a filled endpoint.Config for a catalog endpoint: base URL,
// path, auth, headers, and the key from the provider's environment variable
// unless one is given. Unknown names list the known ones; a missing key
// names the variable to set.
func Match(provider, name string, opts ...MatchOption) (endpoint.Config, error) {
	o := matchOptions{getenv: os.Getenv}
	for _, opt := range opts {
		opt.apply(&o)
	}
	p, ok := Lookup(provider)
	if !ok {
		return endpoint.Config{}, &fielderr.Error{Path: "provider",
			Msg: fmt.Sprintf("unknown %q (known: %s)", provider, strings.Join(Names(), ", "))}
	}
	spec, ok := p.Endpoints[name]
	if !ok {
		return endpoint.Config{}, &fielderr.Error{Path: "endpoint", Msg: fmt.Sprintf("provider %q has no endpoint %q (known: %s)",
			provider, name, strings.Join(p.EndpointNames(), ", "))}
	}
	cfg := endpoint.Config{
		Name:      provider + "-" + name,
		Provider:  provider,
		Kind:      string(spec.Kind),
		Transport: p.Transports[0],
		BaseURL:   p.BaseURL,
		Path:      spec.Path,
		Auth:      p.Auth,
		Headers:   p.Headers,
	}
	if p.BaseURLEnv != "" {
		if v := o.getenv(p.BaseURLEnv); v != "" {
			cfg.BaseURL = baseFromEnv(v, p.BaseURL)
		}
	}
	if p.NeedsKey() {
		cfg.APIKey = endpoint.NewSecret(o.getenv(p.KeyEnv))
	}
	cfg = overlay(cfg, o.over)

	var errs fielderr.List
	if p.NeedsKey() && cfg.APIKey.IsZero() {
		errs.Add("api_key", "not set: set %s or api_key", p.KeyEnv)
	}
	if cfg.Transport != "" && !slices.Contains(p.Transports, cfg.Transport) {
		errs.Add("transport", "provider %q supports %s, not %q", provider, strings.Join(p.Transports, ", "), cfg.Transport)
	}
	return cfg, errs.Err()
}

// baseFromEnv turns a BaseURLEnv value ("127.0.0.1:11434",
// "http://host:11434") into a base URL: http:// when it names no scheme,
// the catalog base's path when it names none.
func baseFromEnv(v, catalogBase string) string {
	v = strings.TrimRight(v, "/")
	if !strings.Contains(v, "://") {
		v = "http://" + v
	}
	u, err := url.Parse(v)
	if err != nil || u.Path != "" {
		return v
	}
	if cu, err := url.Parse(catalogBase); err == nil {
		v += cu.Path
	}
	return v
}

// overlay returns base with every non-zero field of over laid on it.
func overlay(base, over endpoint.Config) endpoint.Config {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&base.Name, over.Name)
	set(&base.Provider, over.Provider)
	set(&base.Transport, over.Transport)
	set(&base.BaseURL, over.BaseURL)
	set(&base.Path, over.Path)
	set(&base.Method, over.Method)
	set(&base.Auth, over.Auth)
	set(&base.AuthHeaderName, over.AuthHeaderName)
	set(&base.ContentType, over.ContentType)
	if !over.APIKey.IsZero() {
		base.APIKey = over.APIKey
	}
	base.Headers = mergeHeaders(base.Headers, over.Headers)
	base.Defaults = mergeMaps(base.Defaults, over.Defaults)
	if over.Timeout != 0 {
		base.Timeout = over.Timeout
	}
	base.AllowInsecure = base.AllowInsecure || over.AllowInsecure
	if over.Retry != (endpoint.RetryConfig{}) {
		base.Retry = over.Retry
	}
	if over.Breaker != (endpoint.BreakerConfig{}) {
		base.Breaker = over.Breaker
	}
	if over.Limits != (endpoint.Limits{}) {
		base.Limits = over.Limits
	}
	if over.Cache != (endpoint.CacheConfig{}) {
		base.Cache = over.Cache
	}
	if over.Read != (endpoint.ReadLimits{}) {
		base.Read = over.Read
	}
	return base
}

// mergeHeaders merges header maps case-insensitively: over wins.
func mergeHeaders(base, over map[string]string) map[string]string {
	if len(over) == 0 {
		return base
	}
	out := make(map[string]string, len(base)+len(over))
	for _, m := range []map[string]string{base, over} {
		for k, v := range m {
			out[http.CanonicalHeaderKey(k)] = v
		}
	}
	return out
}

func mergeMaps[V any](base, over map[string]V) map[string]V {
	if len(over) == 0 {
		return base
	}
	out := maps.Clone(base)
	if out == nil {
		out = make(map[string]V, len(over))
	}
	maps.Copy(out, over)
	return out
}
