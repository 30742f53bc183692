package admission

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Key is a configured client key at run time: its name, the models it may
// use and its limits. It holds this process's count of its requests in
// progress and the memory store's rate counts, so a Key belongs to one
// Store: build a Keyring per store.
type Key struct {
	name    string
	hash    [sha256.Size]byte
	models  []string // nil: every model
	limits  []*limit // requests, then tokens, those configured
	maxConc int64
	budgets []*budget // its own, then its team's
	team    string
	admin   bool

	inFlight atomic.Int64 // this process's requests in progress
}

// Name is the key's configured name ("key-N" for the Nth entry without
// one); logs and metrics show it, never the key.
func (k *Key) Name() string { return k.name }

// Admin reports whether the key may read every budget's spend.
func (k *Key) Admin() bool { return k != nil && k.admin }

// Team is the key's team, "" for none.
func (k *Key) Team() string { return k.team }

// Budgeted reports whether the key has a budget of its own or its team's:
// its requests' costs are held and settled.
func (k *Key) Budgeted() bool { return k != nil && len(k.budgets) > 0 }

// Allows reports whether the key may use model: an alias or ENDPOINT/MODEL
// named exactly, ENDPOINT/* for all of an endpoint's models, * for all. A
// nil Key (no auth) allows every model.
func (k *Key) Allows(model string) bool {
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

// tokenLimit is the key's tokens_per_minute limit, nil when it has none.
func (k *Key) tokenLimit() *limit {
	for _, l := range k.limits {
		if l.field == fieldTokens {
			return l
		}
	}
	return nil
}

// acquireUpTo takes one of this process's slots if fewer than n are held
// (no limit without max_concurrency).
func (k *Key) acquireUpTo(n int64) error {
	if k.maxConc > 0 && k.inFlight.Add(1) > n {
		k.inFlight.Add(-1)
		return k.tooMany()
	}
	return nil
}

func (k *Key) release() {
	if k.maxConc > 0 {
		k.inFlight.Add(-1)
	}
}

func (k *Key) tooMany() *LimitError {
	return &LimitError{Key: k.name, Limit: fieldConcurrency, Max: int(k.maxConc), RetryAfter: time.Second}
}

// The limits' config fields, as LimitError.Limit names them.
const (
	fieldRequests    = "requests_per_minute"
	fieldTokens      = "tokens_per_minute"
	fieldConcurrency = "max_concurrency"
)

// limit is one rate, counted by GCRA: one unit every minute/perMinute, up
// to burst at once.
type limit struct {
	field     string // the config field, for refusals
	id        string // under the store's prefix in Redis: "key:NAME", "tok:NAME", "ep:req:NAME"
	perMinute int
	burst     int
	local     *rate.Limiter // the memory store's count
}

func newLimit(field, id string, perMinute, burst int) *limit {
	return &limit{field: field, id: id, perMinute: perMinute, burst: burst,
		local: rate.NewLimiter(rate.Limit(float64(perMinute)/60), burst)}
}

// interval is the time one unit takes to come back.
func (l *limit) interval() time.Duration { return time.Minute / time.Duration(l.perMinute) }

// cost is what a request spends of l: one request, or its estimated tokens
// (never more than the burst, so a large request waits rather than never
// passing).
func (l *limit) cost(tokens int) int {
	if l.field == fieldRequests {
		return 1
	}
	return min(max(1, tokens), l.burst)
}

// Keyring is the configured keys, found by what a client sends, and the
// teams' budgets.
type Keyring struct {
	keys  []*Key
	teams []*budget
}

func newBudget(kind, name string, b *Budget) *budget {
	if b == nil {
		return nil
	}
	return &budget{kind: kind, name: name, limit: micro(b.USD), period: b.Period}
}

// NewKeyring builds the run-time keys of the entries that hold one (an
// entry whose ${VAR} was unset holds none) and the teams; validate them
// first with ValidateKeys.
func NewKeyring(cfg []ClientKey, teams []Team) *Keyring {
	r := &Keyring{}
	teamBudgets := map[string]*budget{}
	for _, t := range teams {
		if b := newBudget("team", t.Name, t.Budget); b != nil {
			teamBudgets[t.Name] = b
			r.teams = append(r.teams, b)
		}
	}
	for i, c := range cfg {
		if !c.configured() {
			continue
		}
		k := &Key{name: c.Name, models: c.Models, maxConc: int64(c.MaxConcurrency), team: c.Team, admin: c.Admin}
		if k.name == "" {
			k.name = fmt.Sprintf("key-%d", i+1)
		}
		if b := newBudget("key", k.name, c.Budget); b != nil {
			k.budgets = append(k.budgets, b)
		}
		if b := teamBudgets[c.Team]; b != nil {
			k.budgets = append(k.budgets, b)
		}
		if c.SHA256 != "" {
			_, _ = hex.Decode(k.hash[:], []byte(c.SHA256)) // validated
		} else {
			k.hash = sha256.Sum256([]byte(c.Key))
		}
		if c.RequestsPerMinute > 0 {
			// A burst of one second's share (at least one request).
			k.limits = append(k.limits, newLimit(fieldRequests, "key:"+k.name, c.RequestsPerMinute, max(1, c.RequestsPerMinute/60)))
		}
		if c.TokensPerMinute > 0 {
			// A burst of the whole minute, as providers' token buckets.
			k.limits = append(k.limits, newLimit(fieldTokens, "tok:"+k.name, c.TokensPerMinute, c.TokensPerMinute))
		}
		r.keys = append(r.keys, k)
	}
	return r
}

// Len is the number of keys; 0 means no auth.
func (r *Keyring) Len() int { return len(r.keys) }

// Find hashes what the client sent and compares it in constant time with
// every key's hash; nil when none matches.
func (r *Keyring) Find(token string) *Key {
	h := sha256.Sum256([]byte(token))
	var found *Key
	for _, k := range r.keys {
		if subtle.ConstantTimeCompare(h[:], k.hash[:]) == 1 {
			found = k
		}
	}
	return found
}
