package admission

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
)

// Store counts keys' limits. Both stores admit a request all or nothing: a
// concurrency slot, then every rate (tokens as estimated); a refusal takes
// nothing.
type Store interface {
	// Admit admits one request of k estimated at tokens, or refuses it
	// with a *LimitError, ErrStoreUnavailable or ctx's error (a Redis
	// round trip ends with ctx, and with the store's timeout). End the
	// lease when the request is over.
	Admit(ctx context.Context, k *Key, tokens int) (*Lease, error)
	// For gives an endpoint with configured rates (and not adaptive) a
	// limit shared by every replica on the store; nil when the store
	// shares nothing (memory). It makes a Store a fxmodule.SharedLimits.
	For(cfg endpoint.Config) executor.SharedLimiter
	// OnReplicas calls f with the replicas sharing the store (1 for
	// memory) now and whenever that changes; call it before Start.
	OnReplicas(f func(replicas int64))
	// Reserve holds usd, a request's worst-case cost, against k's budget
	// and its team's, all or none, until the Hold is settled; a
	// *BudgetError when either would pass its limit, ErrStoreUnavailable
	// or ctx's error as Admit. A key without budgets gets a nil Hold.
	Reserve(ctx context.Context, k *Key, usd float64) (*Hold, error)
	// Spending is every budget of r in its current period.
	Spending(ctx context.Context, r *Keyring) ([]Spending, error)
	// KeepItems keeps the output items of a translated response given to
	// k, for a later item_reference: bounded by count and bytes (oldest
	// out first) and by age (ItemsTTL). Memory keeps them in the process;
	// Redis shares them with every replica (and while it fails keeps
	// none: ErrStoreUnavailable).
	KeepItems(ctx context.Context, k *Key, items []Item) error
	// Item is k's kept item id, if it is still kept; ErrStoreUnavailable
	// or ctx's error as Admit.
	Item(ctx context.Context, k *Key, id string) ([]byte, bool, error)
	// Health is the store's state for metrics.
	Health() Health
	// Start connects (Redis: a ping; a bad URL or an unreachable Redis
	// fails it) and Stop, once nothing is admitted any more, ends the
	// store's work and closes its client.
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Health is what a store reports for metrics.
type Health struct {
	Shared    bool  // counts are shared by replicas (redis)
	Up        bool  // Redis answers (always for memory)
	Replicas  int64 // replicas last seen, this one included
	Errors    int64 // Redis round trips that failed
	Fallbacks int64 // admissions decided without Redis, by on_store_error
}

// Open builds the configured store; log (nil for none) receives the
// Redis store's transitions.
func Open(cfg StoreConfig, log *zap.Logger) (Store, error) {
	cfg = cfg.WithDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Type == "redis" {
		return newRedis(cfg, log)
	}
	return newMemory(), nil
}

// Lease is an admitted request: End it once, when the request is over.
type Lease struct {
	k      *Key
	tokens int    // the estimate admitted
	member string // the Redis slot, "" for none
	store  leaser
	ended  atomic.Bool
}

// leaser is the store side of a lease.
type leaser interface {
	end(l *Lease, extra int)
}

// End gives the request's slot back and charges the tokens it used beyond
// its estimate (used as the answer's usage reported, 0 or less when
// unknown) to the key's token limit, whatever the wait: the answer was
// already given. Usage below the estimate is not given back. Later calls do
// nothing.
func (l *Lease) End(used int) {
	if l == nil || !l.ended.CompareAndSwap(false, true) {
		return
	}
	l.store.end(l, used-l.tokens)
}

// memory counts each key's limits and budgets in this process (budgets
// start again at zero when it restarts).
type memory struct {
	mu       sync.Mutex
	accounts map[string]account // by budget and period
	items    *itemCache
}

// newMemory is the memory store.
func newMemory() *memory { return &memory{accounts: map[string]account{}, items: newItemCache()} }

// Admit implements Store; it makes no round trip and ignores ctx.
func (m *memory) Admit(_ context.Context, k *Key, tokens int) (*Lease, error) {
	if err := k.acquireUpTo(k.maxConc); err != nil {
		return nil, err
	}
	if err := reserveAll(k, time.Now(), tokens, localLimiter); err != nil {
		k.release()
		return nil, err
	}
	return &Lease{k: k, tokens: tokens, store: m}, nil
}

func (m *memory) end(l *Lease, extra int) {
	l.k.release()
	charge(l.k, time.Now(), extra, localLimiter)
}

// For implements Store: the memory store shares nothing.
func (*memory) For(endpoint.Config) executor.SharedLimiter { return nil }

// OnReplicas implements Store: one replica, always.
func (*memory) OnReplicas(f func(int64)) { f(1) }

// Health implements Store.
func (*memory) Health() Health { return Health{Up: true, Replicas: 1} }

// Start implements Store.
func (*memory) Start(context.Context) error { return nil }

// Stop implements Store.
func (*memory) Stop(context.Context) error { return nil }

func localLimiter(l *limit) *rate.Limiter { return l.local }

// reserveAll takes every limit's cost from the limiters of, or none of
// them: a refusal names the limit that would wait longest and when it is
// due.
func reserveAll(k *Key, now time.Time, tokens int, of func(*limit) *rate.Limiter) error {
	if len(k.limits) == 0 {
		return nil
	}
	var buf [2]*rate.Reservation
	rs := buf[:0]
	var worst time.Duration
	var which *limit
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
	return &LimitError{Key: k.name, Limit: which.field, RetryAfter: worst}
}

// charge spends tokens k used beyond its estimate, as a debt on its token
// limit in the limiters of.
func charge(k *Key, now time.Time, tokens int, of func(*limit) *rate.Limiter) {
	if l := k.tokenLimit(); l != nil && tokens > 0 {
		of(l).ReserveN(now, min(tokens, l.burst))
	}
}
