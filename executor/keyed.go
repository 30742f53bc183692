package executor

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/khive-go/khive/internal/fielderr"
	"golang.org/x/time/rate"
)

// KeyedConfig sets the defaults of a KeyedLimiter.
type KeyedConfig struct {
	// RequestsPerSecond and Burst are the limit each new key starts with.
	RequestsPerSecond float64
	Burst             int
	// IdleTTL evicts keys unused for this long (default 10 minutes).
	IdleTTL time.Duration
	// MaxKeys bounds the map (default 10 000); beyond it the least recently
	// used key is evicted. Size it above the number of keys active at once:
	// an evicted key that comes back starts with a full bucket.
	MaxKeys int
}

// KeyedLimiter holds one request limiter per key, created on first use from
// the defaults or from a SetLimit override. Idle keys are evicted so the map
// stays bounded; overrides survive eviction. Safe for concurrent use.
type KeyedLimiter struct {
	def       limitSpec
	idleTTL   time.Duration
	maxKeys   int
	mu        sync.Mutex
	keys      map[string]*list.Element // of *keyedEntry
	lru       *list.List               // front = most recently used
	overrides map[string]limitSpec
	lastSweep time.Time
}

type limitSpec struct {
	limit rate.Limit
	burst int
}

type keyedEntry struct {
	key      string
	lim      *rate.Limiter
	lastUsed time.Time
}

// NewKeyedLimiter validates cfg and builds the limiter.
func NewKeyedLimiter(cfg KeyedConfig) (*KeyedLimiter, error) {
	var errs fielderr.List
	if cfg.RequestsPerSecond <= 0 {
		errs.Add("requests_per_second", "must be > 0, got %v", cfg.RequestsPerSecond)
	}
	if cfg.Burst < 1 {
		errs.Add("burst", "must be >= 1, got %d", cfg.Burst)
	}
	if cfg.IdleTTL < 0 {
		errs.Add("idle_ttl", "must be >= 0, got %v", cfg.IdleTTL)
	}
	if cfg.MaxKeys < 0 {
		errs.Add("max_keys", "must be >= 0, got %d", cfg.MaxKeys)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if cfg.IdleTTL == 0 {
		cfg.IdleTTL = 10 * time.Minute
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = 10_000
	}
	return &KeyedLimiter{
		def:       limitSpec{rate.Limit(cfg.RequestsPerSecond), cfg.Burst},
		idleTTL:   cfg.IdleTTL,
		maxKeys:   cfg.MaxKeys,
		keys:      make(map[string]*list.Element),
		lru:       list.New(),
		overrides: make(map[string]limitSpec),
	}, nil
}

// SetLimit sets key's rate (per second) and burst, now and after eviction.
func (k *KeyedLimiter) SetLimit(key string, requestsPerSecond float64, burst int) {
	k.SetLimitAt(time.Now(), key, requestsPerSecond, burst)
}

// SetLimitAt is SetLimit at an explicit time.
func (k *KeyedLimiter) SetLimitAt(now time.Time, key string, requestsPerSecond float64, burst int) {
	spec := limitSpec{rate.Limit(requestsPerSecond), burst}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.overrides[key] = spec
	if el, ok := k.keys[key]; ok {
		lim := el.Value.(*keyedEntry).lim
		lim.SetLimitAt(now, spec.limit)
		lim.SetBurstAt(now, spec.burst)
	}
}

// Len is the number of keys held now.
func (k *KeyedLimiter) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys)
}

// limiter returns key's limiter, creating it and evicting idle keys as needed.
func (k *KeyedLimiter) limiter(now time.Time, key string) *rate.Limiter {
	k.mu.Lock()
	defer k.mu.Unlock()
	if el, ok := k.keys[key]; ok {
		e := el.Value.(*keyedEntry)
		e.lastUsed = now
		k.lru.MoveToFront(el)
		return e.lim
	}
	if now.Sub(k.lastSweep) >= k.idleTTL/2 {
		k.evictIdle(now)
		k.lastSweep = now
	}
	spec, ok := k.overrides[key]
	if !ok {
		spec = k.def
	}
	e := &keyedEntry{key: key, lim: rate.NewLimiter(spec.limit, spec.burst), lastUsed: now}
	k.keys[key] = k.lru.PushFront(e)
	for len(k.keys) > k.maxKeys {
		k.remove(k.lru.Back())
	}
	return e.lim
}

// evictIdle drops keys unused for idleTTL, oldest first.
func (k *KeyedLimiter) evictIdle(now time.Time) {
	for el := k.lru.Back(); el != nil; el = k.lru.Back() {
		if now.Sub(el.Value.(*keyedEntry).lastUsed) < k.idleTTL {
			return
		}
		k.remove(el)
	}
}

func (k *KeyedLimiter) remove(el *list.Element) {
	delete(k.keys, el.Value.(*keyedEntry).key)
	k.lru.Remove(el)
}

func (k *KeyedLimiter) reserve(_ context.Context, now time.Time, key string, _ int) (Reservation, error) {
	if key == "" {
		return nil, nil
	}
	return reserveN(k.limiter(now, key), now, 1, "keyed limiter")
}
