package endpoint

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/internal/fielderr"
	"github.com/khive-go/khive/internal/loopback"
)

// Transport kinds.
const (
	TransportHTTP = "http" // the endpoint's own net/http client
	TransportSDK  = "sdk"  // an official SDK plugged in with WithSDK
)

// Auth kinds.
const (
	AuthBearer  = "bearer"    // Authorization: Bearer KEY
	AuthXAPIKey = "x-api-key" // x-api-key: KEY
	AuthHeader  = "header"    // AuthHeaderName: KEY
	AuthNone    = "none"
)

// Config describes one API endpoint. Field errors from Validate use the
// YAML names shown in the tags.
type Config struct {
	Name     string `yaml:"name" json:"name"`
	Provider string `yaml:"provider" json:"provider"`
	// Kind is what the endpoint does (chat, embeddings, messages, search,
	// ...), as the provider catalog names it: a label the endpoint carries
	// for its users (the gateway routes by it) and does not read itself.
	Kind      string `yaml:"kind" json:"kind"`
	Transport string `yaml:"transport" json:"transport"` // http (default) or sdk
	BaseURL   string `yaml:"base_url" json:"base_url"`
	// Path is joined to BaseURL; {param} placeholders are filled from
	// Request.Params.
	Path   string `yaml:"path" json:"path"`
	Method string `yaml:"method" json:"method"` // default POST
	// Auth is bearer (default), x-api-key, header (AuthHeaderName) or none.
	Auth           string `yaml:"auth" json:"auth"`
	AuthHeaderName string `yaml:"auth_header" json:"auth_header"`
	APIKey         Secret `yaml:"api_key" json:"api_key"`
	ContentType    string `yaml:"content_type" json:"content_type"` // default application/json
	// Headers are sent with every request; a request's own headers win.
	Headers map[string]string `yaml:"headers" json:"headers"`
	// Defaults are JSON fields merged into every object body; the request wins.
	Defaults map[string]any `yaml:"defaults" json:"defaults"`
	// Timeout bounds each attempt (default 2 minutes).
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// AllowInsecure permits http:// to a host other than loopback.
	AllowInsecure bool          `yaml:"allow_insecure" json:"allow_insecure"`
	Retry         RetryConfig   `yaml:"retry" json:"retry"`
	Breaker       BreakerConfig `yaml:"breaker" json:"breaker"`
	Limits        Limits        `yaml:"limits" json:"limits"`
	Cache         CacheConfig   `yaml:"cache" json:"cache"`
	// Read bounds what the endpoint reads of its upstream's answers.
	Read ReadLimits `yaml:"read" json:"read"`
}

// ReadLimits bound what an endpoint reads of an upstream's answers, counted
// after decompression (net/http inflates gzip answers it asked for; the
// caps count what it yields, so a compressed bomb stops at the cap). Zero
// fields take the defaults, sized well above real answers: a chat
// completion or an embeddings batch is kilobytes to a few MiB, a stream's
// event a few KiB.
type ReadLimits struct {
	// MaxBodyBytes bounds a non-stream 2xx answer (default 16 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes"`
	// MaxEventBytes bounds one server-sent event, its lines included
	// (default 1 MiB).
	MaxEventBytes int `yaml:"max_event_bytes" json:"max_event_bytes"`
	// MaxErrorBytes is how much of an error answer's body is read (default
	// 64 KiB; StatusError keeps 4 KiB of it); the rest is not read and the
	// connection is closed.
	MaxErrorBytes int `yaml:"max_error_bytes" json:"max_error_bytes"`
}

// Read limits' defaults.
const (
	DefaultMaxBodyBytes  = 16 << 20
	DefaultMaxEventBytes = 1 << 20
	DefaultMaxErrorBytes = 64 << 10
)

// Limits are the endpoint's own rate and concurrency limits, enforced by
// its pool on every attempt: the executor's one limits type. For an
// endpoint, MaxConcurrency bounds calls and open streams at once, and
// MaxWait 0 means DefaultMaxWait.
type Limits = executor.Limits

// DefaultMaxWait is Limits.MaxWait when unset: long enough to smooth a
// burst, short enough that a client is told to come back rather than
// queued behind minutes of backlog.
const DefaultMaxWait = 10 * time.Second

// RetryConfig tunes retries. Zero fields take the defaults.
type RetryConfig struct {
	// MaxAttempts counts the first try (default 3; 1 disables retries).
	MaxAttempts int `yaml:"max_attempts" json:"max_attempts"`
	// BaseDelay and MaxDelay shape exponential backoff with full jitter
	// (defaults 500ms and 8s).
	BaseDelay time.Duration `yaml:"base_delay" json:"base_delay"`
	MaxDelay  time.Duration `yaml:"max_delay" json:"max_delay"`
	// MaxRetryAfter caps a server's wait hint (default 60s); above it the
	// call fails at once, the hint in its error.
	MaxRetryAfter time.Duration `yaml:"max_retry_after" json:"max_retry_after"`
}

// BreakerConfig tunes the circuit breaker. Zero fields take the defaults.
type BreakerConfig struct {
	Disabled bool `yaml:"disabled" json:"disabled"`
	// ConsecutiveFailures opens the circuit (default 5).
	ConsecutiveFailures int `yaml:"consecutive_failures" json:"consecutive_failures"`
	// FailureRate (0 < r <= 1) over Window opens it once MinCalls calls were
	// seen in the window; 0 turns the rate rule off.
	FailureRate float64       `yaml:"failure_rate" json:"failure_rate"`
	Window      time.Duration `yaml:"window" json:"window"`       // default 60s
	MinCalls    int           `yaml:"min_calls" json:"min_calls"` // default 10
	// OpenFor is how long the circuit stays open (default 30s).
	OpenFor time.Duration `yaml:"open_for" json:"open_for"`
	// HalfOpenCalls trial calls are let through after OpenFor (default 1);
	// that many successes close the circuit, one failure reopens it.
	HalfOpenCalls int `yaml:"half_open_calls" json:"half_open_calls"`
}

// CacheConfig enables response caching for requests that opt in.
type CacheConfig struct {
	TTL        time.Duration `yaml:"ttl" json:"ttl"`                 // 0 disables the cache
	MaxEntries int           `yaml:"max_entries" json:"max_entries"` // default 1000
}

// withDefaults returns c with every zero field that has a default filled.
func (c Config) withDefaults() Config {
	if c.Transport == "" {
		c.Transport = TransportHTTP
	}
	if c.Method == "" {
		c.Method = "POST"
	}
	c.Method = strings.ToUpper(c.Method)
	if c.Auth == "" {
		c.Auth = AuthBearer
	}
	if c.ContentType == "" {
		c.ContentType = "application/json"
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Minute
	}
	r := &c.Retry
	r.MaxAttempts = cmp.Or(r.MaxAttempts, 3)
	r.BaseDelay = cmp.Or(r.BaseDelay, 500*time.Millisecond)
	r.MaxDelay = cmp.Or(r.MaxDelay, 8*time.Second)
	r.MaxRetryAfter = cmp.Or(r.MaxRetryAfter, 60*time.Second)
	b := &c.Breaker
	b.ConsecutiveFailures = cmp.Or(b.ConsecutiveFailures, 5)
	b.Window = cmp.Or(b.Window, 60*time.Second)
	b.MinCalls = cmp.Or(b.MinCalls, 10)
	b.OpenFor = cmp.Or(b.OpenFor, 30*time.Second)
	b.HalfOpenCalls = cmp.Or(b.HalfOpenCalls, 1)
	c.Cache.MaxEntries = cmp.Or(c.Cache.MaxEntries, 1000)
	c.Read.MaxBodyBytes = cmp.Or(c.Read.MaxBodyBytes, DefaultMaxBodyBytes)
	c.Read.MaxEventBytes = cmp.Or(c.Read.MaxEventBytes, DefaultMaxEventBytes)
	c.Read.MaxErrorBytes = cmp.Or(c.Read.MaxErrorBytes, DefaultMaxErrorBytes)
	c.Limits.MaxWait = cmp.Or(c.Limits.MaxWait, DefaultMaxWait)
	return c
}

// Validate reports every invalid field at once, by its YAML name. It never
// includes the API key.
func (c Config) Validate() error {
	var errs fielderr.List
	bad := errs.Add
	if c.Name == "" {
		bad("name", "is required")
	}
	switch c.Transport {
	case "", TransportHTTP, TransportSDK:
	default:
		bad("transport", "unknown %q (want http or sdk)", c.Transport)
	}
	switch c.Auth {
	case "", AuthBearer, AuthXAPIKey, AuthNone:
	case AuthHeader:
		if c.AuthHeaderName == "" {
			bad("auth_header", "is required when auth is header")
		}
	default:
		bad("auth", "unknown %q (want bearer, x-api-key, header or none)", c.Auth)
	}
	if c.Auth != AuthNone && c.APIKey.IsZero() {
		bad("api_key", "is required by auth %q", cmp.Or(c.Auth, AuthBearer))
	}
	if c.BaseURL == "" {
		bad("base_url", "is required")
	} else if err := checkBaseURL(c.BaseURL, c.AllowInsecure); err != nil {
		bad("base_url", "%v", err)
	}
	if c.Method != "" && strings.ContainsAny(c.Method, " \t/") {
		bad("method", "invalid %q", c.Method)
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"timeout", c.Timeout}, {"retry.base_delay", c.Retry.BaseDelay}, {"retry.max_delay", c.Retry.MaxDelay},
		{"retry.max_retry_after", c.Retry.MaxRetryAfter}, {"breaker.window", c.Breaker.Window},
		{"breaker.open_for", c.Breaker.OpenFor}, {"cache.ttl", c.Cache.TTL},
	} {
		if d.v < 0 {
			bad(d.field, "must be >= 0, got %v", d.v)
		}
	}
	for _, n := range []struct {
		field string
		v     int
	}{
		{"retry.max_attempts", c.Retry.MaxAttempts}, {"breaker.consecutive_failures", c.Breaker.ConsecutiveFailures},
		{"breaker.min_calls", c.Breaker.MinCalls}, {"breaker.half_open_calls", c.Breaker.HalfOpenCalls},
		{"cache.max_entries", c.Cache.MaxEntries}, {"read.max_event_bytes", c.Read.MaxEventBytes},
		{"read.max_error_bytes", c.Read.MaxErrorBytes}, {"read.max_body_bytes", int(min(c.Read.MaxBodyBytes, 1<<40))},
	} {
		if n.v < 0 {
			bad(n.field, "must be >= 0, got %d", n.v)
		}
	}
	if r := c.Breaker.FailureRate; r < 0 || r > 1 {
		bad("breaker.failure_rate", "must be in [0, 1], got %v", r)
	}
	errs.Under("limits", c.Limits.Validate())
	return errs.Err()
}

func checkBaseURL(raw string, allowInsecure bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error repeats the URL, which may hold credentials
		}
		return fmt.Errorf("not a URL: %v", err)
	}
	if !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("must be an absolute http(s) URL")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowInsecure && !loopback.Is(u.Hostname()) {
			return fmt.Errorf("http:// to non-loopback host %q needs allow_insecure", u.Hostname())
		}
	default:
		return fmt.Errorf("scheme must be http or https, got %q", u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("must not carry credentials; use api_key")
	}
	return nil
}
