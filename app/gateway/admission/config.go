package admission

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/khive-go/khive/internal/fielderr"
)

// ClientKey is one client key. In the config it is a bare string (the key)
// or an entry:
//
//	keys:
//	  - ${KHIVE_GATEWAY_KEY}
//	  - name: team-a                 # what logs and metrics show; never the key
//	    sha256: 9f86d08188...         # the key's SHA-256 in hex, instead of key
//	    models: [fast, "up/*"]        # aliases and ENDPOINT/* patterns; others 403
//	    requests_per_minute: 600      # 429 with Retry-After beyond
//	    tokens_per_minute: 100000     # estimated at admission, corrected by usage
//	    max_concurrency: 8            # requests in progress at once; 429 beyond
//	    budget: {usd: 50, period: month}  # spend; 429 insufficient_quota beyond
//	    team: research                # the team's budget applies too
//	    admin: true                   # may read GET /v1/khive/spend
//
// With a Redis store, every limit and budget is shared by all replicas.
type ClientKey struct {
	Key               string   `yaml:"key"`
	SHA256            string   `yaml:"sha256"`
	Name              string   `yaml:"name"`
	Models            []string `yaml:"models"`
	RequestsPerMinute int      `yaml:"requests_per_minute"`
	// TokensPerMinute is estimated at admission (a quarter of the body's
	// bytes) and corrected by the usage each answer reports.
	TokensPerMinute int `yaml:"tokens_per_minute"`
	MaxConcurrency  int `yaml:"max_concurrency"`
	// Budget caps what the key's requests cost; Team names a Team whose
	// budget applies too.
	Budget *Budget `yaml:"budget"`
	Team   string  `yaml:"team"`
	// Admin keys may read every key's and team's spend.
	Admin bool `yaml:"admin"`
}

// Team is a group of keys sharing a budget (keys join it by name).
type Team struct {
	Name   string  `yaml:"name"`
	Budget *Budget `yaml:"budget"`
}

// Budget caps spend over a period: day, week (ISO, from Monday) or month,
// each in UTC and starting again at its end, or total (never renewed).
type Budget struct {
	USD    float64 `yaml:"usd"`
	Period string  `yaml:"period"`
}

func (b *Budget) validate(errs *fielderr.List, field string) {
	if b == nil {
		return
	}
	if !(b.USD >= 0) || math.IsInf(b.USD, 0) {
		errs.Add(field+".usd", "must be an amount >= 0, got %v", b.USD)
	}
	switch b.Period {
	case periodDay, periodWeek, periodMonth, periodTotal:
	default:
		errs.Add(field+".period", "want day, week, month or total, got %q", b.Period)
	}
}

// UnmarshalYAML takes a bare string as the key, or an entry whose fields
// are all known.
func (k *ClientKey) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&k.Key)
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch f := n.Content[i].Value; f {
			case "key", "sha256", "name", "models", "requests_per_minute", "tokens_per_minute", "max_concurrency",
				"budget", "team", "admin":
			default:
				return fmt.Errorf("line %d: field %s not found in a client key", n.Content[i].Line, f)
			}
		}
	}
	type plain ClientKey
	return n.Decode((*plain)(k))
}

// String never shows the key.
func (k ClientKey) String() string { return "ClientKey{" + k.Name + "}" }

// Keys is a list of client keys given as plain strings.
func Keys(keys ...string) []ClientKey {
	ks := make([]ClientKey, len(keys))
	for i, k := range keys {
		ks[i].Key = k
	}
	return ks
}

// configured reports whether the entry holds a key: "${KHIVE_GATEWAY_KEY}"
// with the variable unset means no key, not an empty one.
func (k ClientKey) configured() bool { return k.Key != "" || k.SHA256 != "" }

// ValidateKeys checks every key and team, each problem a *khive.FieldError
// named "keys[i]..." or "teams[i]..."; it never shows a key.
func ValidateKeys(keys []ClientKey, teams []Team) error {
	var errs fielderr.List
	teamNames := map[string]int{}
	for i, t := range teams {
		field := fmt.Sprintf("teams[%d]", i)
		if t.Name == "" {
			errs.Add(field+".name", "is required")
		} else if j, dup := teamNames[t.Name]; dup {
			errs.Add(field+".name", "%q is teams[%d]'s name too", t.Name, j)
		} else {
			teamNames[t.Name] = i
		}
		t.Budget.validate(&errs, field+".budget")
	}
	names := map[string]int{}
	for i, k := range keys {
		field := fmt.Sprintf("keys[%d]", i)
		bad := func(sub, format string, args ...any) { errs.Add(field+sub, format, args...) }
		if k.Key != "" && k.SHA256 != "" {
			bad("", "give key or sha256, not both")
		}
		if k.SHA256 != "" {
			if b, err := hex.DecodeString(k.SHA256); err != nil || len(b) != sha256.Size {
				bad(".sha256", "want 64 hex digits")
			}
		}
		if !k.configured() && (k.Name != "" || len(k.Models) > 0 || k.RequestsPerMinute != 0 || k.TokensPerMinute != 0 || k.MaxConcurrency != 0 ||
			k.Budget != nil || k.Team != "" || k.Admin) {
			bad("", "an entry needs key or sha256")
		}
		if k.RequestsPerMinute < 0 {
			bad(".requests_per_minute", "must be >= 0")
		}
		if k.MaxConcurrency < 0 {
			bad(".max_concurrency", "must be >= 0")
		}
		if k.TokensPerMinute < 0 {
			bad(".tokens_per_minute", "must be >= 0")
		}
		for j, m := range k.Models {
			if m == "" || (strings.Contains(m, "*") && !strings.HasSuffix(m, "/*") && m != "*") {
				bad(fmt.Sprintf(".models[%d]", j), "want an alias, ENDPOINT/MODEL, ENDPOINT/* or *; got %q", m)
			}
		}
		k.Budget.validate(&errs, field+".budget")
		if _, ok := teamNames[k.Team]; k.Team != "" && !ok {
			bad(".team", "no team %q in teams", k.Team)
		}
		if k.Name != "" {
			if j, dup := names[k.Name]; dup {
				bad(".name", "%q is keys[%d]'s name too", k.Name, j)
			}
			names[k.Name] = i
		}
	}
	return errs.Err()
}

// StoreConfig is where client keys' limits are counted: memory (the
// default: each process counts its own) or redis (every replica pointed at
// the same Redis shares one count per key, and endpoints' configured rates).
type StoreConfig struct {
	Type   string `yaml:"type"`   // memory (default) or redis
	URL    string `yaml:"url"`    // redis://[:password@]host:port[/db]
	Prefix string `yaml:"prefix"` // prepended to every Redis key (default "khive:")
	// OnStoreError is what a replica does while Redis fails: allow
	// (default: count locally, each key's limit divided by the replicas
	// last seen) or deny (ErrStoreUnavailable for every key with a limit,
	// whichever kind).
	OnStoreError string `yaml:"on_store_error"`
	// Timeout bounds each Redis round trip (default 100ms), whatever the
	// request's own deadline.
	Timeout time.Duration `yaml:"timeout"`
	// LeaseTTL is how long a concurrency slot lives in Redis unless its
	// replica renews it (default 10s, at least 1s); the store renews its
	// slots every third of it while their requests run, so a slot whose
	// release was lost frees itself within LeaseTTL.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}

// StoreConfig's defaults.
const (
	defaultStoreTimeout = 100 * time.Millisecond
	defaultLeaseTTL     = 10 * time.Second
)

// WithDefaults fills zero fields.
func (c StoreConfig) WithDefaults() StoreConfig {
	if c.Type == "" {
		c.Type = "memory"
	}
	if c.Prefix == "" {
		c.Prefix = "khive:"
	}
	if c.OnStoreError == "" {
		c.OnStoreError = "allow"
	}
	if c.Timeout == 0 {
		c.Timeout = defaultStoreTimeout
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = defaultLeaseTTL
	}
	return c
}

// Validate reports every problem, each a *khive.FieldError named by its
// field ("url", "on_store_error", ...); it never shows a password.
func (c StoreConfig) Validate() error {
	var errs fielderr.List
	switch c.Type {
	case "", "memory":
	case "redis":
		if _, err := redis.ParseURL(c.URL); err != nil {
			errs.Add("url", "want redis://host:port[/db]: %s", redactURLError(err))
		}
	default:
		errs.Add("type", "want memory or redis, got %q", c.Type)
	}
	if c.OnStoreError != "" && c.OnStoreError != "allow" && c.OnStoreError != "deny" {
		errs.Add("on_store_error", "want allow or deny, got %q", c.OnStoreError)
	}
	if c.Timeout < 0 {
		errs.Add("timeout", "must be >= 0")
	}
	if c.LeaseTTL != 0 && c.LeaseTTL < time.Second {
		errs.Add("lease_ttl", "must be at least 1s (renewed every third of it), got %v", c.LeaseTTL)
	}
	return errs.Err()
}

// redactURLError keeps go-redis's complaint but never the URL (it may hold
// a password).
func redactURLError(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		return "not a valid URL"
	}
	return err.Error()
}
