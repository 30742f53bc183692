package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/fxmodule"
)

var _ fxmodule.SharedLimits = (*Store)(nil)

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
	local map[*keyLimit]*rate.Limiter // the fallback limiters

	stop chan struct{}
	done chan struct{}

	watchers []func(replicas int64) // told when the replica count changes
	leases   atomic.Uint64          // numbers this replica's concurrency leases
	leaseTTL time.Duration          // how long a lease lives: the longest a request can last
}

// onReplicas calls f with the replica count now and whenever it changes;
// call it before the store starts.
func (s *Store) onReplicas(f func(replicas int64)) {
	s.watchers = append(s.watchers, f)
	f(s.replicas.Load())
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
	s := &Store{cfg: cfg, log: log.Named("store"), local: map[*keyLimit]*rate.Limiter{},
		leaseTTL: p.Config.WithDefaults().RequestTimeout + time.Minute}
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
	routeRedisLogs(s.log)
	s.rdb = redis.NewClient(opts)
	var id [8]byte
	_, _ = rand.Read(id[:])
	s.id = hex.EncodeToString(id[:])
	p.Lifecycle.Append(fx.Hook{OnStart: s.start, OnStop: s.close})
	return s, nil
}

// redisLogs is go-redis's logger, which is the process's: its lines (a
// pool's failed dials, one per attempt) go to the newest store's logger at
// Debug, since the store logs Redis going down and coming back itself,
// once, at Warn and Info.
var (
	redisLogOnce sync.Once
	redisLog     atomic.Pointer[zap.Logger]
)

type redisLogger struct{}

func (redisLogger) Printf(_ context.Context, format string, v ...any) {
	if l := redisLog.Load(); l != nil {
		l.Debug("redis client", zap.String("message", fmt.Sprintf(format, v...)))
	}
}

func routeRedisLogs(l *zap.Logger) {
	redisLog.Store(l)
	redisLogOnce.Do(func() { redis.SetLogger(redisLogger{}) })
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

// beat announces this replica and counts the live ones, in one round trip
// on Redis's clock (replicas' clocks may differ).
func (s *Store) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	n, err := beatScript.Run(ctx, s.rdb, []string{s.cfg.Prefix + "replicas"}, s.id, replicaTTL.Milliseconds()).Int64()
	if err != nil {
		s.failed(err)
		return
	}
	s.recovered()
	if n > 0 && s.replicas.Swap(n) != n {
		for _, f := range s.watchers {
			f(n)
		}
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

// enter admits a request of k: its concurrency, then its rates (tokens as
// estimated), all or none; in this process with the memory store, in
// Redis with redis. leave, when admitted, gives the slots back.
func (s *Store) enter(ctx context.Context, k *clientKey, now time.Time, tokens int) (leave func(), aerr *apiError) {
	if s.rdb == nil {
		if aerr = k.admit(now, tokens); aerr != nil {
			return nil, aerr
		}
		return k.release, nil
	}
	var member string
	limit := k.maxConc
	if k.maxConc > 0 {
		if member, limit, aerr = s.takeSlot(ctx, k); aerr != nil {
			return nil, aerr
		}
	}
	if aerr = k.acquireUpTo(limit); aerr != nil {
		s.giveSlot(k, member)
		return nil, aerr
	}
	if aerr = s.rates(ctx, k, now, tokens); aerr != nil {
		k.release()
		s.giveSlot(k, member)
		return nil, aerr
	}
	return func() {
		k.release()
		s.giveSlot(k, member)
	}, nil
}

// takeSlot takes one of k's max_concurrency slots shared by the replicas:
// a lease in a sorted set that expires after the longest a request can
// last, so a replica that dies does not hold its slots. It returns the
// lease and the slots this replica may hold: all of them, or while Redis
// fails max_concurrency / replicas (no lease).
func (s *Store) takeSlot(ctx context.Context, k *clientKey) (string, int64, *apiError) {
	if !s.failing.Load() {
		member := s.id + ":" + strconv.FormatUint(s.leases.Add(1), 10)
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		defer cancel()
		ok, err := slotScript.Run(rctx, s.rdb, []string{s.cfg.Prefix + "conc:" + k.name},
			k.maxConc, s.leaseTTL.Milliseconds(), member).Int()
		if err == nil {
			s.recovered()
			if ok == 1 {
				return member, k.maxConc, nil
			}
			return "", 0, k.tooMany()
		}
		if ctx.Err() != nil {
			return "", 0, clientGone()
		}
		s.failed(err)
	}
	if s.cfg.OnStoreError == "deny" {
		s.fallback.Add(1)
		return "", 0, storeUnavailable()
	}
	return "", int64(math.Ceil(float64(k.maxConc) / float64(s.replicas.Load()))), nil
}

func clientGone() *apiError {
	return &apiError{status: statusClientClosed, typ: "invalid_request_error", message: "the client went away"}
}

// giveSlot ends a lease takeSlot gave ("" for none).
func (s *Store) giveSlot(k *clientKey, member string) {
	if member == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	if err := s.rdb.ZRem(ctx, s.cfg.Prefix+"conc:"+k.name, member).Err(); err != nil {
		s.failed(err) // the lease expires by itself
	}
}

// beatScript scores replica ARGV[1] with now, drops those older than
// ARGV[2] ms and counts the rest.
var beatScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZADD", KEYS[1], now, ARGV[1])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now - tonumber(ARGV[2]))
return redis.call("ZCARD", KEYS[1])
`)

// slotScript takes a lease if fewer than ARGV[1] are live: KEYS[1] holds
// the leases scored by their expiry (ms, Redis's clock).
var slotScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call("PEXPIRE", KEYS[1], tonumber(ARGV[2]))
return 1
`)

// rates applies k's rates (tokens as estimated) in Redis, all of them or
// none; while Redis fails, in this process.
func (s *Store) rates(ctx context.Context, k *clientKey, now time.Time, tokens int) *apiError {
	if len(k.limits) == 0 {
		return nil
	}
	if s.failing.Load() {
		// Redis failed: decide here until a heartbeat finds it back,
		// rather than making every request wait out the timeout.
		return s.withoutStore(k, now, tokens)
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	res, err := s.runGCRA(rctx, k.limits, false, func(l *keyLimit) int { return l.cost(tokens) })
	switch {
	case err != nil && ctx.Err() != nil:
		return clientGone()
	case err != nil:
		s.failed(err)
		return s.withoutStore(k, now, tokens)
	}
	s.recovered()
	if len(res) == 3 && res[0] == 0 && res[1] > 0 && int(res[1]) <= len(k.limits) {
		return k.overRate(k.limits[res[1]-1].field, time.Duration(res[2])*time.Microsecond)
	}
	return nil
}

// charge spends the tokens k used beyond its estimate, as a debt on its
// token limit (no refusal: the answer is already given).
func (s *Store) charge(k *clientKey, tokens int) {
	l := k.tokenLimit()
	if tokens <= 0 || l == nil {
		return
	}
	if s.rdb != nil && !s.failing.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		defer cancel()
		_, err := s.runGCRA(ctx, []*keyLimit{l}, true, func(*keyLimit) int { return min(tokens, l.burst) })
		if err == nil {
			return
		}
		s.failed(err)
	}
	k.charge(time.Now(), tokens, s.limiterOf)
}

// runGCRA runs the script over limits with each one's cost; book takes
// them whatever the wait.
func (s *Store) runGCRA(ctx context.Context, limits []*keyLimit, book bool, cost func(*keyLimit) int) ([]int64, error) {
	keys := make([]string, len(limits))
	args := make([]any, 1, 1+3*len(limits))
	args[0] = 0
	if book {
		args[0] = 1
	}
	for i, l := range limits {
		keys[i] = s.cfg.Prefix + l.redisKey
		iv := l.interval()
		args = append(args, max(1, iv.Microseconds()), max(1, (iv*time.Duration(l.burst)).Microseconds()), cost(l))
	}
	return gcra.Run(ctx, s.rdb, keys, args...).Int64Slice()
}

// gcra is the generic cell rate algorithm over one or more limits in one
// round trip, on Redis's clock, in whole microseconds (exact in Lua's
// doubles until the year 2255). Each key holds its theoretical arrival
// time; a request of cost c is admitted when it moves none of them further
// than its burst tolerance ahead of now, and then moves them all. ARGV[1]
// is 1 to book whatever the wait (usage beyond an estimate; a reservation
// for a time to come); then, per key, its emission interval, tolerance and
// cost. It returns {booked (1 or 0), the limit that waits longest
// (1-based, 0 for none), its wait in µs}; a refusal takes nothing.
// Written here rather than taken from redis_rate, whose float seconds
// admitted one request fewer than the burst on Redis's clock, and which
// cannot admit two limits together.
var gcra = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local force = ARGV[1] == "1"
local tats, worst, which = {}, 0, 0
for i, key in ipairs(KEYS) do
  local interval, tolerance, cost = tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i]), tonumber(ARGV[3*i+1])
  local tat = tonumber(redis.call("GET", key) or "0")
  if tat < now then tat = now end
  tats[i] = tat + interval * cost
  local wait = tats[i] - tolerance - now
  if wait > worst then worst, which = wait, i end
end
if worst > 0 and not force then return {0, which, worst} end
for i, key in ipairs(KEYS) do
  redis.call("SET", key, string.format("%.0f", tats[i]), "PX", math.ceil((tats[i] - now) / 1000) + 1)
end
return {1, which, worst}
`)

// ungcra gives back what a booked reservation took: ARGV[i] µs off
// KEYS[i]'s theoretical arrival time.
var ungcra = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call("GET", key) or "0") - tonumber(ARGV[i])
  if tat > now then
    redis.call("SET", key, string.format("%.0f", tat), "PX", math.ceil((tat - now) / 1000) + 1)
  else
    redis.call("DEL", key)
  end
end
return 0
`)

// withoutStore decides by on_store_error while Redis fails.
func (s *Store) withoutStore(k *clientKey, now time.Time, tokens int) *apiError {
	s.fallback.Add(1)
	if s.cfg.OnStoreError == "deny" {
		return storeUnavailable()
	}
	return k.reserve(now, tokens, s.limiterOf)
}

// storeUnavailable is on_store_error: deny's answer, for every limit a key
// has (its rates and its concurrency).
func storeUnavailable() *apiError {
	return &apiError{status: http.StatusServiceUnavailable, typ: "server_error", code: "store_unavailable",
		message: "the gateway cannot count this key's limits right now", header: retryAfter(time.Second)}
}

// limiterOf is l's fallback while Redis fails: its rate and burst divided
// by the replicas last seen.
func (s *Store) limiterOf(l *keyLimit) *rate.Limiter {
	if s.rdb == nil {
		return l.local
	}
	n := float64(s.replicas.Load())
	r := rate.Limit(float64(l.perMinute) / 60 / n)
	s.mu.Lock()
	defer s.mu.Unlock()
	lim, ok := s.local[l]
	if !ok {
		lim = rate.NewLimiter(r, max(1, int(float64(l.burst)/n)))
		s.local[l] = lim
	} else if lim.Limit() != r {
		lim.SetLimit(r)
	}
	return lim
}

// For gives an endpoint with configured rates (and not adaptive) a limit
// shared by every replica on this Redis; nil otherwise, and with the
// memory store. It makes Store a fxmodule.SharedLimits.
func (s *Store) For(cfg endpoint.Config) executor.SharedLimiter {
	l := cfg.Limits
	rpm := l.RequestRate() * 60
	if s.rdb == nil || l.Adaptive || (rpm <= 0 && l.TokensPerMinute <= 0) {
		return nil
	}
	sh := &sharedEndpoint{s: s}
	if rpm > 0 {
		sh.limits = append(sh.limits, newKeyLimit("requests_per_minute", "ep:req:"+cfg.Name,
			max(1, int(math.Ceil(rpm))), max(1, l.Burst)))
	}
	if l.TokensPerMinute > 0 {
		tpm := max(1, int(math.Ceil(l.TokensPerMinute)))
		burst := tpm
		if l.TokenBurst > 0 {
			burst = l.TokenBurst
		}
		sh.limits = append(sh.limits, newKeyLimit("tokens_per_minute", "ep:tok:"+cfg.Name, tpm, burst))
	}
	return sh
}

// sharedEndpoint is one endpoint's configured rates in Redis.
type sharedEndpoint struct {
	s      *Store
	limits []*keyLimit
}

// Reserve books the request and its tokens in Redis, for now or a time to
// come; while Redis fails, in local limiters at rate / replicas.
func (sh *sharedEndpoint) Reserve(now time.Time, _ string, cost int) (executor.SharedReservation, error) {
	s := sh.s
	costOf := func(l *keyLimit) int { return l.cost(cost) }
	if !s.failing.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		res, err := s.runGCRA(ctx, sh.limits, true, costOf)
		cancel()
		if err == nil && len(res) == 3 {
			s.recovered()
			back := make([]int64, len(sh.limits))
			for i, l := range sh.limits {
				back[i] = max(1, l.interval().Microseconds()) * int64(costOf(l))
			}
			return &redisReservation{sh: sh, due: now.Add(time.Duration(max(0, res[2])) * time.Microsecond), back: back}, nil
		}
		if err != nil {
			s.failed(err)
		}
	}
	s.fallback.Add(1)
	rs := make(localReservations, 0, len(sh.limits))
	for _, l := range sh.limits {
		rs = append(rs, s.limiterOf(l).ReserveN(now, costOf(l)))
	}
	return rs, nil
}

// redisReservation is a booking in Redis; cancelling gives it back.
type redisReservation struct {
	sh   *sharedEndpoint
	due  time.Time
	back []int64 // µs per limit
	done bool
}

func (r *redisReservation) DelayFrom(now time.Time) time.Duration { return max(0, r.due.Sub(now)) }

func (r *redisReservation) CancelAt(now time.Time) {
	if r.done || !r.due.After(now) {
		return
	}
	r.done = true
	s := r.sh.s
	keys := make([]string, len(r.sh.limits))
	args := make([]any, len(r.back))
	for i, l := range r.sh.limits {
		keys[i], args[i] = s.cfg.Prefix+l.redisKey, r.back[i]
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	if err := ungcra.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		s.failed(err)
	}
}

// localReservations are the fallback's, one per limit.
type localReservations []*rate.Reservation

func (rs localReservations) DelayFrom(now time.Time) time.Duration {
	var d time.Duration
	for _, r := range rs {
		d = max(d, r.DelayFrom(now))
	}
	return d
}

func (rs localReservations) CancelAt(now time.Time) {
	for _, r := range rs {
		r.CancelAt(now)
	}
}
