package admission

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// heartbeat is how often a replica announces itself in Redis, renews its
// slots and retries lost releases (and, while Redis fails, probes it),
// unless a third of the lease TTL is shorter; a replica not heard from for
// replicaTTL is no longer counted.
const (
	heartbeat  = 2 * time.Second
	replicaTTL = 3 * heartbeat
)

// redisStore counts keys' limits in Redis, shared by every replica pointed at
// it; while Redis fails it decides by on_store_error.
type redisStore struct {
	cfg   StoreConfig
	log   *zap.Logger
	rdb   *redis.Client
	id    string
	every time.Duration // the heartbeat's period

	replicas atomic.Int64 // replicas last seen, this one included
	failing  atomic.Bool
	errs     atomic.Int64 // Redis failures
	fallback atomic.Int64 // admissions decided locally while Redis failed

	mu    sync.Mutex
	local map[*limit]*rate.Limiter // the fallback limiters
	// left is what each budget account had left when Redis last said;
	// localLeft this replica's share of it while Redis fails.
	left, localLeft map[string]int64
	sharedFrom      atomic.Int64 // unix ns: budgets count on Redis again from then

	itemBounds itemBounds

	slots       slotBook // concurrency slots and budget holds
	settlements settlements
	seq         atomic.Uint64 // numbers this replica's slots and holds

	watchers   []func(replicas int64) // told when the replica count changes
	stop, done chan struct{}
	stopped    atomic.Bool
}

var _ Store = (*redisStore)(nil)

// newRedis builds a Redis store (cfg.Type is not looked at); Start
// connects.
func newRedis(cfg StoreConfig, log *zap.Logger) (*redisStore, error) {
	cfg = cfg.WithDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("gateway.store.url: %s", redactURLError(err))
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = cfg.Timeout*10, cfg.Timeout, cfg.Timeout
	opts.MaxRetries = -1 // a failed round trip falls back at once; it is not retried past the timeout
	s := &redisStore{cfg: cfg, log: log, local: map[*limit]*rate.Limiter{}, every: min(heartbeat, cfg.LeaseTTL/3), itemBounds: defaultItemBounds}
	routeRedisLogs(log)
	s.rdb = redis.NewClient(opts)
	var id [8]byte
	_, _ = rand.Read(id[:])
	s.id = hex.EncodeToString(id[:])
	s.replicas.Store(1)
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

// Start implements Store: it pings Redis, announces the replica and starts
// the heartbeat.
func (s *redisStore) Start(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return errors.Join(fmt.Errorf("gateway.store: redis at %s: %w", s.rdb.Options().Addr, err), s.rdb.Close())
	}
	s.beat(ctx)
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.heartbeats()
	s.log.Info("limit store on redis", zap.String("addr", s.rdb.Options().Addr), zap.String("replica", s.id),
		zap.Int64("replicas", s.replicas.Load()), zap.Duration("lease_ttl", s.cfg.LeaseTTL))
	return nil
}

// Stop implements Store: a last heartbeat gives back what it can of the
// slots Redis may still hold, then the client closes. Later calls do
// nothing.
func (s *redisStore) Stop(ctx context.Context) error {
	if !s.stopped.CompareAndSwap(false, true) {
		return nil
	}
	if s.stop != nil {
		close(s.stop)
		<-s.done
		s.beat(ctx)
	}
	if err := s.rdb.Close(); err != nil {
		s.log.Error("closing the redis client failed", zap.String("addr", s.rdb.Options().Addr), zap.Error(err))
		return fmt.Errorf("gateway.store: close: %w", err)
	}
	return nil
}

// OnReplicas implements Store.
func (s *redisStore) OnReplicas(f func(replicas int64)) {
	s.watchers = append(s.watchers, f)
	f(s.replicas.Load())
}

// Health implements Store.
func (s *redisStore) Health() Health {
	return Health{Shared: true, Up: !s.failing.Load(), Replicas: s.replicas.Load(), Errors: s.errs.Load(), Fallbacks: s.fallback.Load()}
}

func (s *redisStore) heartbeats() {
	defer close(s.done)
	t := time.NewTicker(s.every)
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

// beat announces this replica and counts the live ones (on Redis's clock:
// replicas' clocks may differ), renews the slots held here, and removes
// those whose release (or grant) Redis may have missed, in one round trip.
func (s *redisStore) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	held, lost := s.slots.snapshot()
	pipe := s.rdb.Pipeline()
	count := beatScript.Eval(ctx, pipe, []string{s.cfg.Prefix + "replicas"}, s.id, replicaTTL.Milliseconds())
	for key, members := range held {
		args := make([]any, 0, 1+len(members))
		args = append(args, s.cfg.LeaseTTL.Milliseconds())
		for _, m := range members {
			args = append(args, m)
		}
		renewScript.Eval(ctx, pipe, []string{key}, args...)
	}
	for key, members := range lost {
		pipe.ZRem(ctx, key, toAny(members)...)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		s.failed(err)
		return
	}
	s.slots.forget(lost)
	// What was spent while Redis failed goes in before admissions count
	// on Redis again.
	if err := s.applySettlements(); err != nil {
		s.failed(err)
		return
	}
	s.recovered()
	if n, _ := count.Int64(); n > 0 && s.replicas.Swap(n) != n {
		for _, f := range s.watchers {
			f(n)
		}
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// failed records a Redis failure, logging only the transition.
func (s *redisStore) failed(err error) {
	s.errs.Add(1)
	if !s.failing.Swap(true) {
		s.log.Warn("redis failing: limits counted locally", zap.String("on_store_error", s.cfg.OnStoreError),
			zap.Int64("replicas", s.replicas.Load()), zap.Error(err))
	}
}

func (s *redisStore) recovered() {
	if s.failing.Swap(false) {
		if s.cfg.OnStoreError == "allow" {
			// Budgets count on Redis again once every live replica has
			// had a heartbeat to settle there what it spent alone.
			s.sharedFrom.Store(time.Now().Add(s.every + s.cfg.Timeout).UnixNano())
		}
		s.log.Info("redis back: limits shared again")
	}
}

// Admit implements Store: its concurrency in Redis, then its rates in
// Redis, all or none (tokens as estimated).
func (s *redisStore) Admit(ctx context.Context, k *Key, tokens int) (*Lease, error) {
	if k.maxConc > 0 && len(k.limits) > 0 && !s.failing.Load() {
		if l, decided, err := s.admitAtOnce(ctx, k, tokens); decided {
			return l, err
		}
	}
	member, n, local, err := s.takeSlot(ctx, k)
	if err == nil {
		if err = k.acquireUpTo(n); err != nil {
			s.giveSlot(k, member)
		}
	}
	if err == nil {
		var localRates bool
		if localRates, err = s.rates(ctx, k, tokens); err != nil {
			k.release()
			s.giveSlot(k, member)
		}
		local = local || localRates
	}
	if local {
		s.fallback.Add(1)
	}
	if err != nil {
		return nil, err
	}
	return &Lease{k: k, tokens: tokens, member: member, store: s}, nil
}

// admitAtOnce takes k's slot and books its rates in one round trip
// (admitScript). It has not decided (false) when Redis failed: the caller
// then decides as takeSlot and rates do while Redis fails.
func (s *redisStore) admitAtOnce(ctx context.Context, k *Key, tokens int) (*Lease, bool, error) {
	if err := k.acquireUpTo(k.maxConc); err != nil {
		return nil, true, err
	}
	member := s.id + ":" + strconv.FormatUint(s.seq.Add(1), 10)
	slot := s.slotKey(k)
	rateKeys, rateArgs := s.gcraArgs(k.limits, func(l *limit) int { return l.cost(tokens) })
	keys := append([]string{slot}, rateKeys...)
	args := append([]any{k.maxConc, s.cfg.LeaseTTL.Milliseconds(), member}, rateArgs...)
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	res, err := admitScript.Run(rctx, s.rdb, keys, args...).Int64Slice()
	cancel()
	if err != nil {
		k.release()
		// The script may have run after the gateway stopped waiting: the
		// slot is removed when Redis answers again (and expires anyway).
		s.slots.lose(slot, member)
		if ctx.Err() != nil {
			return nil, true, fmt.Errorf("admission of key %s: %w", k.name, ctx.Err())
		}
		s.failed(err)
		return nil, false, nil
	}
	s.recovered()
	switch {
	case len(res) == 3 && res[0] == 1:
		s.slots.hold(slot, member)
		return &Lease{k: k, tokens: tokens, member: member, store: s}, true, nil
	case len(res) == 3 && res[0] == 0 && res[1] > 0 && int(res[1]) <= len(k.limits):
		k.release()
		return nil, true, &LimitError{Key: k.name, Limit: k.limits[res[1]-1].field, RetryAfter: time.Duration(res[2]) * time.Microsecond}
	}
	k.release()
	return nil, true, k.tooMany()
}

func (s *redisStore) end(l *Lease, extra int) {
	l.k.release()
	s.giveSlot(l.k, l.member)
	s.charge(l.k, extra)
}

func (s *redisStore) slotKey(k *Key) string { return s.cfg.Prefix + "conc:" + k.name }

// takeSlot takes one of k's max_concurrency slots shared by the replicas:
// a lease in a sorted set, scored by its expiry, that the heartbeat renews
// while it is held. It returns the lease and the slots this replica may
// hold: all of them, or while Redis fails max_concurrency / replicas (no
// lease, local true); nothing without max_concurrency.
func (s *redisStore) takeSlot(ctx context.Context, k *Key) (member string, n int64, local bool, err error) {
	if k.maxConc == 0 {
		return "", 0, false, nil
	}
	if !s.failing.Load() {
		member := s.id + ":" + strconv.FormatUint(s.seq.Add(1), 10)
		key := s.slotKey(k)
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		ok, err := slotScript.Run(rctx, s.rdb, []string{key}, k.maxConc, s.cfg.LeaseTTL.Milliseconds(), member).Int()
		cancel()
		if err == nil {
			s.recovered()
			if ok == 1 {
				s.slots.hold(key, member)
				return member, k.maxConc, false, nil
			}
			return "", 0, false, k.tooMany()
		}
		// The script may have run after the gateway stopped waiting: the
		// slot is removed when Redis answers again (and expires anyway).
		s.slots.lose(key, member)
		if ctx.Err() != nil {
			return "", 0, false, fmt.Errorf("admission of key %s: %w", k.name, ctx.Err())
		}
		s.failed(err)
	}
	if s.cfg.OnStoreError == "deny" {
		return "", 0, true, ErrStoreUnavailable
	}
	return "", int64(math.Ceil(float64(k.maxConc) / float64(s.replicas.Load()))), true, nil
}

// giveSlot ends a lease takeSlot gave ("" for none). While Redis fails, or
// when the removal fails, the heartbeat removes it once Redis answers.
func (s *redisStore) giveSlot(k *Key, member string) {
	if member == "" {
		return
	}
	key := s.slotKey(k)
	s.slots.drop(key, member)
	if s.failing.Load() {
		s.slots.lose(key, member)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	if err := s.rdb.ZRem(ctx, key, member).Err(); err != nil {
		s.slots.lose(key, member)
		s.failed(err)
	}
}

// rates applies k's rates (tokens as estimated) in Redis, all of them or
// none; while Redis fails, by on_store_error (local true).
func (s *redisStore) rates(ctx context.Context, k *Key, tokens int) (local bool, err error) {
	if len(k.limits) == 0 {
		return false, nil
	}
	if s.failing.Load() {
		// Redis failed: decide here until a heartbeat finds it back,
		// rather than making every request wait out the timeout.
		return true, s.withoutStore(k, tokens)
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	res, err := s.runGCRA(rctx, k.limits, false, func(l *limit) int { return l.cost(tokens) })
	switch {
	case err != nil && ctx.Err() != nil:
		return false, fmt.Errorf("admission of key %s: %w", k.name, ctx.Err())
	case err != nil:
		s.failed(err)
		return true, s.withoutStore(k, tokens)
	}
	s.recovered()
	if len(res) == 3 && res[0] == 0 && res[1] > 0 && int(res[1]) <= len(k.limits) {
		return false, &LimitError{Key: k.name, Limit: k.limits[res[1]-1].field, RetryAfter: time.Duration(res[2]) * time.Microsecond}
	}
	return false, nil
}

// withoutStore decides by on_store_error while Redis fails.
func (s *redisStore) withoutStore(k *Key, tokens int) error {
	if s.cfg.OnStoreError == "deny" {
		return ErrStoreUnavailable
	}
	return reserveAll(k, time.Now(), tokens, s.limiterOf)
}

// charge spends the tokens k used beyond its estimate, as a debt on its
// token limit (no refusal: the answer is already given).
func (s *redisStore) charge(k *Key, tokens int) {
	l := k.tokenLimit()
	if tokens <= 0 || l == nil {
		return
	}
	if !s.failing.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		defer cancel()
		_, err := s.runGCRA(ctx, []*limit{l}, true, func(*limit) int { return min(tokens, l.burst) })
		if err == nil {
			return
		}
		s.failed(err)
	}
	charge(k, time.Now(), tokens, s.limiterOf)
}

// runGCRA runs the script over limits with each one's cost; book takes
// them whatever the wait.
func (s *redisStore) runGCRA(ctx context.Context, limits []*limit, book bool, cost func(*limit) int) ([]int64, error) {
	keys, rateArgs := s.gcraArgs(limits, cost)
	args := append([]any{0}, rateArgs...)
	if book {
		args[0] = 1
	}
	return gcra.Run(ctx, s.rdb, keys, args...).Int64Slice()
}

// gcraArgs are limits' keys and, per limit, its interval, tolerance (µs)
// and cost, as gcra and admitScript take them.
func (s *redisStore) gcraArgs(limits []*limit, cost func(*limit) int) ([]string, []any) {
	keys := make([]string, len(limits))
	args := make([]any, 0, 3*len(limits))
	for i, l := range limits {
		keys[i] = s.cfg.Prefix + l.id
		iv := l.interval()
		args = append(args, max(1, iv.Microseconds()), max(1, (iv*time.Duration(l.burst)).Microseconds()), cost(l))
	}
	return keys, args
}

// limiterOf is l's fallback while Redis fails: its rate and burst divided
// by the replicas last seen.
func (s *redisStore) limiterOf(l *limit) *rate.Limiter {
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

// slotBook is the slots this replica holds in Redis, which the heartbeat
// renews, and those Redis may hold though nothing runs under them (a
// release that failed, a grant whose answer came too late), which the
// heartbeat removes.
type slotBook struct {
	mu   sync.Mutex
	held map[string]map[string]struct{} // Redis key → members
	lost map[string]map[string]struct{}
}

func add(m *map[string]map[string]struct{}, key, member string) {
	if *m == nil {
		*m = map[string]map[string]struct{}{}
	}
	set := (*m)[key]
	if set == nil {
		set = map[string]struct{}{}
		(*m)[key] = set
	}
	set[member] = struct{}{}
}

func remove(m map[string]map[string]struct{}, key, member string) {
	if set := m[key]; set != nil {
		delete(set, member)
		if len(set) == 0 {
			delete(m, key)
		}
	}
}

func (b *slotBook) hold(key, member string) {
	b.mu.Lock()
	add(&b.held, key, member)
	b.mu.Unlock()
}

func (b *slotBook) drop(key, member string) {
	b.mu.Lock()
	remove(b.held, key, member)
	b.mu.Unlock()
}

func (b *slotBook) lose(key, member string) {
	b.mu.Lock()
	add(&b.lost, key, member)
	b.mu.Unlock()
}

// snapshot lists the held and the lost slots by Redis key.
func (b *slotBook) snapshot() (held, lost map[string][]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	list := func(m map[string]map[string]struct{}) map[string][]string {
		out := make(map[string][]string, len(m))
		for key, set := range m {
			for member := range set {
				out[key] = append(out[key], member)
			}
		}
		return out
	}
	return list(b.held), list(b.lost)
}

// forget drops lost slots Redis has now removed.
func (b *slotBook) forget(done map[string][]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for key, members := range done {
		for _, m := range members {
			remove(b.lost, key, m)
		}
	}
}

// counts are the slots held and lost, for tests.
func (b *slotBook) counts() (held, lost int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, set := range b.held {
		held += len(set)
	}
	for _, set := range b.lost {
		lost += len(set)
	}
	return held, lost
}
