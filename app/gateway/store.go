package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// StoreConfig is where client keys' request limits are counted: memory
// (the default: each process counts its own) or redis (every replica
// pointed at the same Redis shares one count per key).
type StoreConfig struct {
	Type   string `yaml:"type"`   // memory (default) or redis
	URL    string `yaml:"url"`    // redis://[:password@]host:port[/db]
	Prefix string `yaml:"prefix"` // prepended to every Redis key (default "khive:")
	// OnStoreError is what a replica does while Redis fails: allow
	// (default: count locally, each key's limit divided by the replicas
	// last seen) or deny (503 with Retry-After).
	OnStoreError string `yaml:"on_store_error"`
	// Timeout bounds each Redis round trip (default 100ms), whatever the
	// request's own deadline.
	Timeout time.Duration `yaml:"timeout"`
}

func (c StoreConfig) withDefaults() StoreConfig {
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
		c.Timeout = 100 * time.Millisecond
	}
	return c
}

func (c StoreConfig) validate(bad func(field, format string, args ...any)) {
	switch c.Type {
	case "", "memory":
	case "redis":
		if _, err := redis.ParseURL(c.URL); err != nil {
			bad("store.url", "want redis://host:port[/db]: %s", redactURLError(err))
		}
	default:
		bad("store.type", "want memory or redis, got %q", c.Type)
	}
	if c.OnStoreError != "" && c.OnStoreError != "allow" && c.OnStoreError != "deny" {
		bad("store.on_store_error", "want allow or deny, got %q", c.OnStoreError)
	}
	if c.Timeout < 0 {
		bad("store.timeout", "must be >= 0")
	}
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

// heartbeat is how often a replica announces itself in Redis (and, while
// Redis fails, probes it); a replica not heard from for replicaTTL is no
// longer counted.
const (
	heartbeat  = 2 * time.Second
	replicaTTL = 3 * heartbeat
)

// Store counts client keys' request limits. It is an fx resource: with
// Redis, OnStart connects and pings (a bad URL or an unreachable Redis
// fails start) and OnStop, after the server has drained, closes the
// client.
type Store struct {
	cfg StoreConfig
	log *zap.Logger
	rdb *redis.Client
	id  string

	replicas atomic.Int64 // replicas last seen, this one included
	failing  atomic.Bool
	errs     atomic.Int64 // Redis failures
	fallback atomic.Int64 // admissions decided locally while Redis failed

	mu    sync.Mutex
	local map[*clientKey]*rate.Limiter // the fallback limiters

	stop chan struct{}
	done chan struct{}
}

// StoreParams are NewStore's inputs.
type StoreParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    Config
	Logger    *zap.Logger `optional:"true"`
}

// NewStore builds the configured store and registers its hooks.
func NewStore(p StoreParams) (*Store, error) {
	cfg := p.Config.Store.withDefaults()
	log := p.Logger
	if log == nil {
		log = zap.NewNop()
	}
	s := &Store{cfg: cfg, log: log.Named("store"), local: map[*clientKey]*rate.Limiter{}}
	s.replicas.Store(1)
	if cfg.Type != "redis" {
		return s, nil
	}
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("gateway.store.url: %s", redactURLError(err))
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = cfg.Timeout*10, cfg.Timeout, cfg.Timeout
	opts.MaxRetries = -1 // a failed round trip falls back at once; it is not retried past the timeout
	s.rdb = redis.NewClient(opts)
	var id [8]byte
	_, _ = rand.Read(id[:])
	s.id = hex.EncodeToString(id[:])
	p.Lifecycle.Append(fx.Hook{OnStart: s.start, OnStop: s.close})
	return s, nil
}

func (s *Store) start(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return errors.Join(fmt.Errorf("gateway.store: redis at %s: %w", s.rdb.Options().Addr, err), s.rdb.Close())
	}
	s.beat(ctx)
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.heartbeats()
	s.log.Info("limit store on redis", zap.String("addr", s.rdb.Options().Addr), zap.String("replica", s.id),
		zap.Int64("replicas", s.replicas.Load()))
	return nil
}

func (s *Store) close(context.Context) error {
	close(s.stop)
	<-s.done
	if err := s.rdb.Close(); err != nil {
		s.log.Error("closing the redis client failed", zap.String("addr", s.rdb.Options().Addr), zap.Error(err))
		return fmt.Errorf("gateway.store: close: %w", err)
	}
	return nil
}

func (s *Store) heartbeats() {
	defer close(s.done)
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.beat(context.Background())
		}
	}
}

// beat announces this replica and counts the live ones, in one round trip.
func (s *Store) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	now := time.Now()
	set := s.cfg.Prefix + "replicas"
	var card *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, set, redis.Z{Score: float64(now.UnixMilli()), Member: s.id})
		p.ZRemRangeByScore(ctx, set, "-inf", strconv.FormatInt(now.Add(-replicaTTL).UnixMilli(), 10))
		card = p.ZCard(ctx, set)
		return nil
	})
	if err != nil {
		s.failed(err)
		return
	}
	s.recovered()
	if n := card.Val(); n > 0 {
		s.replicas.Store(n)
	}
}

// failed records a Redis failure, logging only the transition.
func (s *Store) failed(err error) {
	s.errs.Add(1)
	if !s.failing.Swap(true) {
		s.log.Warn("redis failing: limits counted locally", zap.String("on_store_error", s.cfg.OnStoreError),
			zap.Int64("replicas", s.replicas.Load()), zap.Error(err))
	}
}

func (s *Store) recovered() {
	if s.failing.Swap(false) {
		s.log.Info("redis back: limits shared again")
	}
}

// admit applies k's limits: its concurrency here, its request rate in the
// store.
func (s *Store) admit(ctx context.Context, k *clientKey, now time.Time) *apiError {
	if s.rdb == nil {
		return k.admit(now)
	}
	if aerr := k.acquire(); aerr != nil {
		return aerr
	}
	if k.rpm == 0 {
		return nil
	}
	if s.failing.Load() {
		// Redis failed: decide here until a heartbeat finds it back,
		// rather than making every request wait out the timeout.
		return s.withoutStore(k, now)
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	interval := time.Minute / time.Duration(k.rpm)
	wait, err := gcra.Run(rctx, s.rdb, []string{s.cfg.Prefix + "key:" + k.name},
		max(1, interval.Microseconds()), max(1, (interval*time.Duration(k.burst())).Microseconds()), 1).Int64Slice()
	switch {
	case err != nil && ctx.Err() != nil:
		k.release()
		return &apiError{status: statusClientClosed, typ: "invalid_request_error", message: "the client went away"}
	case err != nil:
		s.failed(err)
		return s.withoutStore(k, now)
	}
	s.recovered()
	if len(wait) == 2 && wait[0] == 0 {
		k.release()
		return k.overRate(time.Duration(wait[1]) * time.Microsecond)
	}
	return nil
}

// gcra is the generic cell rate algorithm in one round trip, on Redis's
// clock, in whole microseconds (exact in Lua's doubles until the year
// 2255): the key holds the theoretical arrival time; a request of cost c
// is admitted when it moves that time no further than the burst tolerance
// ahead of now. It returns {1, 0} when admitted, {0, wait in µs} when not
// (taking nothing). Written here rather than taken from redis_rate, whose
// float seconds admit one request fewer than the burst on Redis's clock,
// and whose result has no room for a token cost.
var gcra = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, tolerance, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call("GET", KEYS[1]) or "0")
if tat < now then tat = now end
local newtat = tat + interval * cost
local wait = newtat - tolerance - now
if wait > 0 then return {0, wait} end
redis.call("SET", KEYS[1], string.format("%.0f", newtat), "PX", math.ceil((newtat - now) / 1000) + 1)
return {1, 0}
`)

// withoutStore decides by on_store_error while Redis fails.
func (s *Store) withoutStore(k *clientKey, now time.Time) *apiError {
	s.fallback.Add(1)
	if s.cfg.OnStoreError == "deny" {
		k.release()
		return &apiError{status: http.StatusServiceUnavailable, typ: "server_error", code: "store_unavailable",
			message: "the gateway cannot count this key's limits right now", header: retryAfter(time.Second)}
	}
	if aerr := k.rateRefusal(s.localLimiter(k), now); aerr != nil {
		k.release()
		return aerr
	}
	return nil
}

// localLimiter is k's fallback while Redis fails: its rate divided by the
// replicas last seen.
func (s *Store) localLimiter(k *clientKey) *rate.Limiter {
	n := float64(s.replicas.Load())
	r := rate.Limit(float64(k.rpm) / 60 / n)
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.local[k]
	if !ok {
		l = rate.NewLimiter(r, max(1, int(float64(k.burst())/n)))
		s.local[k] = l
	} else if l.Limit() != r {
		l.SetLimit(r)
	}
	return l
}
