package admission

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// spentGrace is how long a period's spent count stays in Redis after the
// period ends, for reading.
const spentGrace = 7 * 24 * time.Hour

func (s *redisStore) budgetKeys(account string) (spent, held string) {
	base := s.cfg.Prefix + "budget:" + account
	return base + ":spent", base + ":held"
}

// Reserve implements Store: one script checks and holds every budget of
// the key in Redis, on Redis's count of what each has spent and holds. A
// hold lives lease_ttl unless the heartbeat renews it, so a replica that
// dies releases what its requests held.
func (s *redisStore) Reserve(ctx context.Context, k *Key, usd float64) (*Hold, error) {
	if len(k.budgets) == 0 {
		return nil, nil
	}
	now, amount := time.Now(), micro(usd)
	h := &Hold{amount: amount, store: s}
	for _, b := range k.budgets {
		id, end := b.account(now)
		h.accounts, h.ends = append(h.accounts, id), append(h.ends, end)
	}
	if s.failing.Load() {
		return s.holdWithoutStore(h)
	}
	member := s.id + ":b" + strconv.FormatUint(s.seq.Add(1), 10) + ":" + strconv.FormatInt(amount, 10)
	keys := make([]string, 0, 2*len(h.accounts))
	args := []any{s.cfg.LeaseTTL.Milliseconds(), member, amount}
	for i, id := range h.accounts {
		spent, held := s.budgetKeys(id)
		keys = append(keys, spent, held)
		args = append(args, k.budgets[i].limit)
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	res, err := reserveScript.Run(rctx, s.rdb, keys, args...).Int64Slice()
	cancel()
	if err != nil {
		for i := 1; i < len(keys); i += 2 {
			s.slots.lose(keys[i], member) // it may have been held after the gateway stopped waiting
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("budget of key %s: %w", k.name, ctx.Err())
		}
		s.failed(err)
		return s.holdWithoutStore(h)
	}
	s.recovered()
	if len(res) == 4 && res[0] == 0 && res[1] >= 1 && int(res[1]) <= len(k.budgets) {
		i := res[1] - 1
		return nil, budgetError(k, k.budgets[i], h.accounts[i], now, h.ends[i], res[2], res[3])
	}
	h.member = member
	for i := 1; i < len(keys); i += 2 {
		s.slots.hold(keys[i], member)
	}
	return h, nil
}

// holdWithoutStore decides by on_store_error while Redis fails: deny
// refuses; allow admits, and the cost is added to Redis's count once it
// answers again.
func (s *redisStore) holdWithoutStore(h *Hold) (*Hold, error) {
	s.fallback.Add(1)
	if s.cfg.OnStoreError == "deny" {
		return nil, ErrStoreUnavailable
	}
	return h, nil
}

// pendingSettlement is a settlement Redis has not taken yet.
type pendingSettlement struct {
	keys   []string // spent, held per account
	member string   // the hold, "" for none
	spent  int64
	expire []int64 // per account: when its spent count expires (ms since the epoch), 0 never
}

func (s *redisStore) settle(h *Hold, spent int64) {
	p := pendingSettlement{member: h.member, spent: spent}
	for i, id := range h.accounts {
		sk, hk := s.budgetKeys(id)
		p.keys = append(p.keys, sk, hk)
		var exp int64
		if !h.ends[i].IsZero() {
			exp = h.ends[i].Add(spentGrace).UnixMilli()
		}
		p.expire = append(p.expire, exp)
		if h.member != "" {
			s.slots.drop(hk, h.member)
		}
	}
	if !s.failing.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		err := s.runSettle(ctx, p)
		cancel()
		if err == nil {
			return
		}
		s.failed(err)
	}
	s.settlements.add(p) // applied by the heartbeat once Redis answers
}

func (s *redisStore) runSettle(ctx context.Context, p pendingSettlement) error {
	args := []any{p.member, p.spent}
	for _, e := range p.expire {
		args = append(args, e)
	}
	return settleScript.Run(ctx, s.rdb, p.keys, args...).Err()
}

// retrySettlements applies the settlements Redis missed, each once.
func (s *redisStore) retrySettlements(ctx context.Context) {
	for _, p := range s.settlements.take() {
		if err := s.runSettle(ctx, p); err != nil {
			s.settlements.add(p)
			s.failed(err)
			return
		}
	}
}

// settlements are those waiting for Redis.
type settlements struct {
	mu sync.Mutex
	q  []pendingSettlement
}

func (ps *settlements) add(p pendingSettlement) {
	ps.mu.Lock()
	ps.q = append(ps.q, p)
	ps.mu.Unlock()
}

func (ps *settlements) take() []pendingSettlement {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	q := ps.q
	ps.q = nil
	return q
}

func (ps *settlements) len() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.q)
}

// Spending implements Store: every budget's count in Redis, in one round
// trip.
func (s *redisStore) Spending(ctx context.Context, r *Keyring) ([]Spending, error) {
	bs := r.budgets()
	if len(bs) == 0 {
		return nil, nil
	}
	now := time.Now()
	keys := make([]string, 0, 2*len(bs))
	for _, b := range bs {
		id, _ := b.account(now)
		sk, hk := s.budgetKeys(id)
		keys = append(keys, sk, hk)
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	res, err := spendingScript.Run(rctx, s.rdb, keys).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("reading spend from redis: %w", err)
	}
	out := make([]Spending, 0, len(bs))
	for i, b := range bs {
		out = append(out, spending(b, now, res[2*i], res[2*i+1]))
	}
	return out, nil
}

// reserveScript holds ARGV[3] µUSD as member ARGV[2] (living ARGV[1] ms)
// against each budget — KEYS in pairs: its spent count, its holds scored
// by expiry, the amount at the member's end — if none would pass its limit
// (ARGV[4...]). It returns {1} or {0, the budget that refused (1-based),
// its spent, its held}.
var reserveScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl, member, amount = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local n = #KEYS / 2
for i = 1, n do
  local held = KEYS[2*i]
  redis.call("ZREMRANGEBYSCORE", held, "-inf", now)
  local sum = 0
  for _, m in ipairs(redis.call("ZRANGE", held, 0, -1)) do
    sum = sum + tonumber(string.match(m, ":(%d+)$"))
  end
  local spent = tonumber(redis.call("GET", KEYS[2*i-1]) or "0")
  if spent + sum + amount > tonumber(ARGV[3+i]) then return {0, i, spent, sum} end
end
for i = 1, n do
  redis.call("ZADD", KEYS[2*i], now + ttl, member)
  redis.call("PEXPIRE", KEYS[2*i], ttl)
end
return {1}
`)

// settleScript ends hold ARGV[1] (none when empty) and adds ARGV[2] µUSD to
// each budget's spent count, which expires at ARGV[2+i] (ms since the
// epoch; 0 never).
var settleScript = redis.NewScript(`
local n = #KEYS / 2
for i = 1, n do
  if ARGV[1] ~= "" then redis.call("ZREM", KEYS[2*i], ARGV[1]) end
  redis.call("INCRBY", KEYS[2*i-1], ARGV[2])
  local exp = tonumber(ARGV[2+i])
  if exp > 0 then redis.call("PEXPIREAT", KEYS[2*i-1], exp) end
end
return 0
`)

// spendingScript reads each budget's spent count and live holds: {spent1,
// held1, spent2, ...}.
var spendingScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #KEYS / 2 do
  local sum = 0
  for _, m in ipairs(redis.call("ZRANGEBYSCORE", KEYS[2*i], now, "+inf")) do
    sum = sum + tonumber(string.match(m, ":(%d+)$"))
  end
  out[2*i-1] = tonumber(redis.call("GET", KEYS[2*i-1]) or "0")
  out[2*i] = sum
end
return out
`)
