package gateway

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/khive-go/khive/app/gateway/admission"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/fxmodule"
	"github.com/khive-go/khive/internal/fielderr"
	"github.com/khive-go/khive/internal/loopback"
)

// Config is the gateway section of the config file.
type Config struct {
	Listen string `yaml:"listen"`
	// Keys are the client keys, bare strings or entries with a name,
	// allowed models and limits (see admission.ClientKey); empty means no auth,
	// allowed only when listening on loopback.
	Keys []admission.ClientKey `yaml:"keys"`
	// Teams are groups of keys sharing a budget (a key joins by team:).
	Teams           []admission.Team `yaml:"teams"`
	MaxBodyBytes    int64            `yaml:"max_body_bytes"`
	RequestTimeout  time.Duration    `yaml:"request_timeout"`
	ShutdownTimeout time.Duration    `yaml:"shutdown_timeout"`
	// DrainDelay keeps serving, with readyz at 503 and new API requests
	// refused, for this long before the listener closes, so load balancers
	// see the gateway leave (default 0).
	DrainDelay time.Duration `yaml:"drain_delay"`
	// AccessLog, set to false, turns the access log (a "request" line at
	// Info per request) off; it is on by default. Its lines carry no
	// caller.
	AccessLog *bool `yaml:"access_log"`
	// AnthropicMaxTokens is the max_tokens sent to Anthropic when an OpenAI
	// request gives none (default 4096).
	AnthropicMaxTokens int `yaml:"anthropic_max_tokens"`
	// Models are aliases: each names targets tried in order.
	Models map[string][]Target `yaml:"models"`
	// ReadTimeout bounds reading a request's body, once its headers are in
	// (default 30s): a body that trickles is cut with 408.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds each write to a client, extended as writes go
	// (moved at most once per sixteenth of it, so a write has at least
	// 15/16 of it), so a stream lives as long as events flow and a client
	// that stops reading is cut (default 30s).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle this long (default 90s).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConnections bounds the client connections open at once; more wait
	// in the listen queue (default: half the process's open-file limit, the
	// other half left for upstream connections and files).
	MaxConnections int `yaml:"max_connections"`
	// MaxInflightBodyBytes bounds the request bodies held in memory at once
	// (default 32 MiB); a request whose body would pass it gets 503 with
	// Retry-After before its body is read. Bodies up to 64 KiB are always
	// admitted: MaxConnections bounds them. While routing a body the gateway
	// holds a few copies of it (read, decoded, re-encoded): memory peaks
	// near four times this, plus the garbage collector's headroom.
	MaxInflightBodyBytes int64 `yaml:"max_inflight_body_bytes"`
	// ModelsRefresh is how often the gateway asks the upstreams for their
	// model lists again for GET /v1/models, after asking at start (default
	// 10m; negative: never ask, list only the aliases), each within
	// ModelsTimeout (default 10s).
	ModelsRefresh time.Duration `yaml:"models_refresh"`
	ModelsTimeout time.Duration `yaml:"models_timeout"`
	// Telemetry turns OpenTelemetry export on (off by default; the
	// OTEL_EXPORTER_OTLP_* variables turn it on too).
	Telemetry TelemetryConfig `yaml:"telemetry"`
	// Store is where client keys' request limits are counted (default
	// memory; redis shares them across replicas).
	Store admission.StoreConfig `yaml:"store"`
	// Prices override the shipped price table, by endpoint name (every
	// model it serves) or ENDPOINT/MODEL; an alias target's own price wins
	// over both.
	Prices map[string]admission.Price `yaml:"prices"`
	// BudgetMaxTokens is the output a budgeted key's request is held for
	// when it sets no max_tokens (default 4096).
	BudgetMaxTokens int `yaml:"budget_max_tokens"`
	// UnsupportedTools says, by alias or endpoint name, what a request
	// translated for a chat target does with built-in tools it cannot run
	// (web_search, file_search, …): refuse (the default: 400 naming the
	// tool) or drop (logged at Debug, counted in
	// khive_gateway_dropped_tools_total). An alias's entry wins over its
	// endpoints'.
	UnsupportedTools map[string]string `yaml:"unsupported_tools"`
	// Reasoning says, by alias or endpoint name, whether a translated
	// request's reasoning ask (reasoning_effort, Anthropic's thinking, the
	// Responses API's reasoning.effort) is carried to the target: map or
	// drop (logged at Debug). The default maps for Anthropic endpoints,
	// whose current models all think, and drops for OpenAI-compatible
	// ones, most of whose models refuse reasoning_effort: set map for a
	// reasoning model. An alias's entry wins over its endpoints'. Reasoning
	// an answer carries is translated either way.
	Reasoning map[string]string `yaml:"reasoning"`
	// Sticky lists aliases whose requests keep to one target per client
	// session (x-claude-code-session-id, Codex's session-id, or
	// x-session-id), so that a provider's prompt cache keeps serving the
	// session: the session's hash picks the first target, the others
	// follow in order as fallbacks. Without a session header, and for
	// other aliases, targets are tried in their order.
	Sticky []string `yaml:"sticky"`
}

// Target is an endpoint and the model name to send it.
type Target struct {
	Endpoint string `yaml:"endpoint"`
	Model    string `yaml:"model"`
	// Price, when set, is what this target's tokens cost.
	Price *admission.Price `yaml:"price"`
}

// File is the whole config file: the module's config plus the gateway's.
type File struct {
	fxmodule.Config `yaml:",inline"`
	Gateway         Config `yaml:"gateway"`
}

// Defaults for fields left zero.
const (
	defaultListen          = "127.0.0.1:8080"
	defaultMaxBodyBytes    = 10 << 20
	defaultRequestTimeout  = 10 * time.Minute
	defaultShutdownTimeout = 30 * time.Second
	defaultReadTimeout     = 30 * time.Second
	defaultWriteTimeout    = 30 * time.Second
	defaultIdleTimeout     = 90 * time.Second
	defaultInflightBodies  = 32 << 20
)

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	c.Listen = cmp.Or(c.Listen, defaultListen)
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, defaultMaxBodyBytes)
	c.RequestTimeout = cmp.Or(c.RequestTimeout, defaultRequestTimeout)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, defaultShutdownTimeout)
	c.AnthropicMaxTokens = cmp.Or(c.AnthropicMaxTokens, 4096)
	c.ReadTimeout = cmp.Or(c.ReadTimeout, defaultReadTimeout)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, defaultWriteTimeout)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, defaultIdleTimeout)
	if c.MaxConnections == 0 { // defaultMaxConnections asks the kernel
		c.MaxConnections = defaultMaxConnections()
	}
	c.MaxInflightBodyBytes = cmp.Or(c.MaxInflightBodyBytes, defaultInflightBodies)
	c.ModelsRefresh = cmp.Or(c.ModelsRefresh, 10*time.Minute)
	c.ModelsTimeout = cmp.Or(c.ModelsTimeout, 10*time.Second)
	c.BudgetMaxTokens = cmp.Or(c.BudgetMaxTokens, 4096)
	return c
}

// Validate checks the gateway section against the endpoints it can route
// to, reporting every error with its path.
func (c Config) Validate(endpoints map[string]endpoint.Config) error {
	var errs fielderr.List
	bad := func(field, format string, args ...any) { errs.Add("gateway."+field, format, args...) }
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		bad("listen", "want host:port, got %q", c.Listen)
	} else if admission.NewKeyring(c.Keys, c.Teams).Len() == 0 && !loopback.Is(host) {
		bad("keys", "required when listening on a non-loopback address (%s)", c.Listen)
	}
	errs.Under("gateway", admission.ValidateKeys(c.Keys, c.Teams))
	errs.Under("gateway.store", c.Store.Validate())
	if c.MaxBodyBytes < 0 {
		bad("max_body_bytes", "must be >= 0")
	}
	if c.RequestTimeout < 0 {
		bad("request_timeout", "must be >= 0")
	}
	if c.ShutdownTimeout < 0 {
		bad("shutdown_timeout", "must be >= 0")
	}
	if c.AnthropicMaxTokens < 0 {
		bad("anthropic_max_tokens", "must be >= 0")
	}
	if c.DrainDelay < 0 {
		bad("drain_delay", "must be >= 0")
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"read_timeout", c.ReadTimeout}, {"write_timeout", c.WriteTimeout}, {"idle_timeout", c.IdleTimeout}, {"models_timeout", c.ModelsTimeout}} {
		if d.v < 0 {
			bad(d.field, "must be >= 0")
		}
	}
	if c.MaxConnections < 0 {
		bad("max_connections", "must be >= 0")
	}
	if c.MaxInflightBodyBytes < 0 {
		bad("max_inflight_body_bytes", "must be >= 0")
	}
	if c.BudgetMaxTokens < 0 {
		bad("budget_max_tokens", "must be >= 0")
	}
	// A translation setting by alias or endpoint: the name must be one,
	// the value one of two.
	policy := func(field string, m map[string]string, a, b string) {
		for _, name := range slices.Sorted(maps.Keys(m)) {
			_, isAlias := c.Models[name]
			if _, ok := endpoints[name]; !ok && !isAlias {
				bad(field+"."+name, "no endpoint or alias %q", name)
			}
			if v := m[name]; v != a && v != b {
				bad(field+"."+name, "want %s or %s, got %q", a, b, v)
			}
		}
	}
	policy("unsupported_tools", c.UnsupportedTools, "refuse", "drop")
	policy("reasoning", c.Reasoning, "map", "drop")
	for i, alias := range c.Sticky {
		if _, ok := c.Models[alias]; !ok {
			bad(fmt.Sprintf("sticky[%d]", i), "no alias %q in models", alias)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Prices)) {
		ep, _, _ := strings.Cut(name, "/")
		if _, ok := endpoints[ep]; !ok {
			bad("prices."+name, "unknown endpoint %q", ep)
		}
		errs.Under("gateway.prices."+name, c.Prices[name].Validate())
	}
	for _, alias := range slices.Sorted(maps.Keys(c.Models)) {
		targets := c.Models[alias]
		if len(targets) == 0 {
			bad("models."+alias, "needs at least one target")
		}
		for i, t := range targets {
			field := fmt.Sprintf("models.%s[%d]", alias, i)
			if _, ok := endpoints[t.Endpoint]; !ok {
				bad(field+".endpoint", "unknown endpoint %q", t.Endpoint)
			}
			if t.Model == "" {
				bad(field+".model", "is required")
			}
			if t.Price != nil {
				errs.Under("gateway."+field+".price", t.Price.Validate())
			}
		}
	}
	return errs.Err()
}

// LoadFile reads the gateway's config file and checks all of it before
// anything is built: fields the YAML decoder cannot read (unknown, wrong
// type), the endpoints and the gateway section, every problem named by its
// path in one *fxmodule.FileError. A file that cannot be read or parsed is
// a plain error.
func LoadFile(path string) (File, error) {
	var f File
	err := fxmodule.LoadYAML(path, &f)
	fe := &fxmodule.FileError{Path: path}
	if err != nil && !errors.As(err, &fe) {
		return f, err
	}
	if verr := f.Config.Validate(); verr != nil {
		fe.Errs = append(fe.Errs, fielderr.Unjoin(verr)...)
	}
	names := map[string]endpoint.Config{}
	for name := range f.Config.Endpoints {
		names[name] = endpoint.Config{}
	}
	if gerr := f.Gateway.WithDefaults().Validate(names); gerr != nil {
		fe.Errs = append(fe.Errs, fielderr.Unjoin(gerr)...)
	}
	if len(fe.Errs) > 0 {
		return f, fe
	}
	return f, nil
}
