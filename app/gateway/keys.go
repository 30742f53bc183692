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
//	    tokens_per_minute: 100000     # estimated at admission, corrected by usage
//	    max_concurrency: 8            # requests in progress at once; 429 beyond
//
// With gateway.store of type redis, every limit is shared by all replicas.
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
			case "key", "sha256", "name", "models", "requests_per_minute", "tokens_per_minute", "max_concurrency":
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
	if !k.configured() && (k.Name != "" || len(k.Models) > 0 || k.RequestsPerMinute != 0 || k.TokensPerMinute != 0 || k.MaxConcurrency != 0) {
		bad(field, "an entry needs key or sha256")
	}
	if k.RequestsPerMinute < 0 {
		bad(field+".requests_per_minute", "must be >= 0")
	}
	if k.MaxConcurrency < 0 {
		bad(field+".max_concurrency", "must be >= 0")
	}
	if k.TokensPerMinute < 0 {
		bad(field+".tokens_per_minute", "must be >= 0")
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
	models   []string    // nil: every model
	limits   []*keyLimit // requests, then tokens, those configured
	maxConc  int64
	inFlight atomic.Int64
}

// keyLimit is one of a key's rates, counted by GCRA: one unit every
// minute/perMinute, up to burst at once.
type keyLimit struct {
	field     string // the config field, for refusals
	redisKey  string // under the store's prefix: "key:NAME" or "tok:NAME"
	perMinute int
	burst     int
	local     *rate.Limiter // the memory store's count
}

func newKeyLimit(field, redisKey string, perMinute, burst int) *keyLimit {
	return &keyLimit{field: field, redisKey: redisKey, perMinute: perMinute, burst: burst,
		local: rate.NewLimiter(rate.Limit(float64(perMinute)/60), burst)}
}

// interval is the time one unit takes to come back.
func (l *keyLimit) interval() time.Duration { return time.Minute / time.Duration(l.perMinute) }

// cost is what a request spends of l: one request, or its estimated tokens
// (never more than the burst, so a large request waits rather than never
// passing).
func (l *keyLimit) cost(tokens int) int {
	if l.field == "requests_per_minute" {
		return 1
	}
	return min(max(1, tokens), l.burst)
}

func newClientKeys(cfg []ClientKey) []*clientKey {
	var out []*clientKey
	for i, k := range cfg {
		if !k.configured() {
			continue
		}
		ck := &clientKey{name: k.Name, models: k.Models, maxConc: int64(k.MaxConcurrency)}
		if ck.name == "" {
			ck.name = fmt.Sprintf("key-%d", i+1)
		}
		if k.SHA256 != "" {
			_, _ = hex.Decode(ck.hash[:], []byte(k.SHA256)) // validated
		} else {
			ck.hash = sha256.Sum256([]byte(k.Key))
		}
		if k.RequestsPerMinute > 0 {
			// A burst of one second's share (at least one request).
			ck.limits = append(ck.limits, newKeyLimit("requests_per_minute", "key:"+ck.name, k.RequestsPerMinute, max(1, k.RequestsPerMinute/60)))
		}
		if k.TokensPerMinute > 0 {
			// A burst of the whole minute, as providers' token buckets.
			ck.limits = append(ck.limits, newKeyLimit("tokens_per_minute", "tok:"+ck.name, k.TokensPerMinute, k.TokensPerMinute))
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

// admit takes a concurrency slot and the key's rate limits (tokens as
// estimated), or says why not; release gives the slot back. It is the
// memory store.
func (k *clientKey) admit(now time.Time, tokens int) *apiError {
	if aerr := k.acquire(); aerr != nil {
		return aerr
	}
	if aerr := k.reserve(now, tokens, func(l *keyLimit) *rate.Limiter { return l.local }); aerr != nil {
		k.release()
		return aerr
	}
	return nil
}

// reserve takes every limit's cost from the limiters of, or none of them:
// a refusal names the limit that would wait longest and when it is due.
func (k *clientKey) reserve(now time.Time, tokens int, of func(*keyLimit) *rate.Limiter) *apiError {
	rs := make([]*rate.Reservation, 0, len(k.limits))
	var worst time.Duration
	var which *keyLimit
	for _, l := range k.limits {
		r := of(l).ReserveN(now, l.cost(tokens))
		rs = append(rs, r)
		if d := r.DelayFrom(now); d > worst {
			worst, which = d, l
		}
	}
	if which == nil {
		return nil
	}
	for _, r := range rs {
		r.CancelAt(now)
	}
	return k.overRate(which.field, worst)
}

// charge spends tokens the key used beyond its estimate, as a debt on its
// token limit in the limiters of (no refusal: the answer is already given).
func (k *clientKey) charge(now time.Time, tokens int, of func(*keyLimit) *rate.Limiter) {
	if l := k.tokenLimit(); l != nil && tokens > 0 {
		of(l).ReserveN(now, min(tokens, l.burst))
	}
}

// tokenLimit is the key's tokens_per_minute limit, nil when it has none.
func (k *clientKey) tokenLimit() *keyLimit {
	for _, l := range k.limits {
		if l.field == "tokens_per_minute" {
			return l
		}
	}
	return nil
}

// acquire takes one of the key's max_concurrency slots.
func (k *clientKey) acquire() *apiError { return k.acquireUpTo(k.maxConc) }

// acquireUpTo takes a slot if fewer than limit are held (no limit without
// max_concurrency).
func (k *clientKey) acquireUpTo(limit int64) *apiError {
	if k.maxConc > 0 && k.inFlight.Add(1) > limit {
		k.inFlight.Add(-1)
		return k.tooMany()
	}
	return nil
}

func (k *clientKey) tooMany() *apiError {
	return &apiError{status: http.StatusTooManyRequests, typ: "rate_limit_error", code: "key_concurrency",
		message: fmt.Sprintf("key %s has %d requests in progress, its max_concurrency", k.name, k.maxConc),
		header:  retryAfter(time.Second)}
}

func (k *clientKey) release() {
	if k.maxConc > 0 {
		k.inFlight.Add(-1)
	}
}

func (k *clientKey) overRate(field string, d time.Duration) *apiError {
	return &apiError{status: http.StatusTooManyRequests, typ: "rate_limit_error", code: "key_rate_limit",
		message: fmt.Sprintf("key %s is over its %s; retry after %v", k.name, field, d.Round(time.Millisecond)),
		header:  retryAfter(d)}
}

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
