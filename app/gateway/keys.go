package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/time/rate"
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
//	    max_concurrency: 8            # requests in progress at once; 429 beyond
//
// With gateway.store of type redis, requests_per_minute is shared by all
// replicas; max_concurrency is always counted per replica.
type ClientKey struct {
	Key               string   `yaml:"key"`
	SHA256            string   `yaml:"sha256"`
	Name              string   `yaml:"name"`
	Models            []string `yaml:"models"`
	RequestsPerMinute int      `yaml:"requests_per_minute"`
	MaxConcurrency    int      `yaml:"max_concurrency"`
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
			case "key", "sha256", "name", "models", "requests_per_minute", "max_concurrency":
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

func (k ClientKey) validate(bad func(field, format string, args ...any), i int) {
	field := fmt.Sprintf("keys[%d]", i)
	if k.Key != "" && k.SHA256 != "" {
		bad(field, "give key or sha256, not both")
	}
	if k.SHA256 != "" {
		if b, err := hex.DecodeString(k.SHA256); err != nil || len(b) != sha256.Size {
			bad(field+".sha256", "want 64 hex digits")
		}
	}
	if !k.configured() && (k.Name != "" || len(k.Models) > 0 || k.RequestsPerMinute != 0 || k.MaxConcurrency != 0) {
		bad(field, "an entry needs key or sha256")
	}
	if k.RequestsPerMinute < 0 {
		bad(field+".requests_per_minute", "must be >= 0")
	}
	if k.MaxConcurrency < 0 {
		bad(field+".max_concurrency", "must be >= 0")
	}
	for j, m := range k.Models {
		if m == "" || (strings.Contains(m, "*") && !strings.HasSuffix(m, "/*") && m != "*") {
			bad(fmt.Sprintf("%s.models[%d]", field, j), "want an alias, ENDPOINT/MODEL, ENDPOINT/* or *; got %q", m)
		}
	}
}

// clientKey is a configured key at run time: its hash, its name and its
// limits.
type clientKey struct {
	name     string
	hash     [sha256.Size]byte
	models   []string // nil: every model
	rpm      int
	requests *rate.Limiter // the memory store's count
	maxConc  int64
	inFlight atomic.Int64
}

func newClientKeys(cfg []ClientKey) []*clientKey {
	var out []*clientKey
	for i, k := range cfg {
		if !k.configured() {
			continue
		}
		ck := &clientKey{name: k.Name, models: k.Models, rpm: k.RequestsPerMinute, maxConc: int64(k.MaxConcurrency)}
		if ck.name == "" {
			ck.name = fmt.Sprintf("key-%d", i+1)
		}
		if k.SHA256 != "" {
			_, _ = hex.Decode(ck.hash[:], []byte(k.SHA256)) // validated
		} else {
			ck.hash = sha256.Sum256([]byte(k.Key))
		}
		if k.RequestsPerMinute > 0 {
			// GCRA by another name: one request every minute/RPM, a burst of
			// one second's share (at least one).
			ck.requests = rate.NewLimiter(rate.Limit(float64(k.RequestsPerMinute)/60), ck.burst())
		}
		out = append(out, ck)
	}
	return out
}

// findKey hashes what the client sent and compares it in constant time
// with every key's hash; nil when none matches.
func findKey(keys []*clientKey, got string) *clientKey {
	h := sha256.Sum256([]byte(got))
	var found *clientKey
	for _, k := range keys {
		if subtle.ConstantTimeCompare(h[:], k.hash[:]) == 1 {
			found = k
		}
	}
	return found
}

// admit takes a concurrency slot and the key's request-rate token, or
// says why not; release gives the slot back. It is the memory store.
func (k *clientKey) admit(now time.Time) *apiError {
	if aerr := k.acquire(); aerr != nil {
		return aerr
	}
	if aerr := k.rateRefusal(k.requests, now); aerr != nil {
		k.release()
		return aerr
	}
	return nil
}

// acquire takes one of the key's max_concurrency slots.
func (k *clientKey) acquire() *apiError {
	if k.maxConc > 0 && k.inFlight.Add(1) > k.maxConc {
		k.inFlight.Add(-1)
		return &apiError{status: http.StatusTooManyRequests, typ: "rate_limit_error", code: "key_concurrency",
			message: fmt.Sprintf("key %s has %d requests in progress, its max_concurrency", k.name, k.maxConc),
			header:  retryAfter(time.Second)}
	}
	return nil
}

func (k *clientKey) release() {
	if k.maxConc > 0 {
		k.inFlight.Add(-1)
	}
}

// rateRefusal takes a token from l now, or refuses with when one is due
// (taking nothing); nil l has no limit.
func (k *clientKey) rateRefusal(l *rate.Limiter, now time.Time) *apiError {
	if l == nil {
		return nil
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return k.overRate(d)
	}
	return nil
}

func (k *clientKey) overRate(d time.Duration) *apiError {
	return &apiError{status: http.StatusTooManyRequests, typ: "rate_limit_error", code: "key_rate_limit",
		message: fmt.Sprintf("key %s is over its requests_per_minute; retry after %v", k.name, d.Round(time.Millisecond)),
		header:  retryAfter(d)}
}

// burst is one second's share of the key's rate, at least one.
func (k *clientKey) burst() int { return max(1, k.rpm/60) }

// allows reports whether the key may use model: an alias or ENDPOINT/MODEL
// named exactly, ENDPOINT/* for all of an endpoint's models, * for all.
func (k *clientKey) allows(model string) bool {
	if k == nil || k.models == nil {
		return true
	}
	for _, m := range k.models {
		if m == "*" || m == model {
			return true
		}
		if prefix, ok := strings.CutSuffix(m, "*"); ok && strings.HasPrefix(model, prefix) {
			return true
		}
	}
	return false
}

func modelNotAllowed(k *clientKey, model string) *apiError {
	return &apiError{status: http.StatusForbidden, typ: "permission_error", code: "model_not_allowed", param: "model",
		message: fmt.Sprintf("key %s may not use model %q", k.name, truncate(model))}
}
