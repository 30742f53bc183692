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
	// The member names the hold in Redis and its settlement, which is
	// applied once however often it is retried.
	member := s.id + ":b" + strconv.FormatUint(s.seq.Add(1), 10) + ":" + strconv.FormatInt(amount, 10)
	h.id = member
	if s.failing.Load() || now.UnixNano() < s.sharedFrom.Load() {
		return s.holdWithoutStore(h)
	}
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
	if len(res) == 1+len(h.accounts) {
		s.budgetsSeen(h.accounts, res[1:])
	}
	h.member = member
	for i := 1; i < len(keys); i += 2 {
		s.slots.hold(keys[i], member)
	}
	return h, nil
}

// holdWithoutStore decides by on_store_error while Redis fails: deny
// refuses; allow holds the request against this replica's share (1 / the
// replicas last seen) of what Redis last said each budget had left, and
// refuses with ErrStoreUnavailable beyond it or for a budget it never
// heard of. The cost is added to Redis's count once it answers again; the
// share holds one heartbeat longer, until the other replicas have settled
// theirs too.
func (s *redisStore) holdWithoutStore(h *Hold) (*Hold, error) {
	s.fallback.Add(1)
	if s.cfg.OnStoreError == "deny" {
		return nil, ErrStoreUnavailable
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.localLeft == nil {
		s.localLeft = map[string]int64{}
	}
	for _, id := range h.accounts {
		left, ok := s.localLeft[id]
		if !ok {
			seen, known := s.left[id]
			if !known {
				return nil, ErrStoreUnavailable
			}
			left = seen / max(1, s.replicas.Load())
			s.localLeft[id] = left
		}
		if left < h.amount {
			return nil, ErrStoreUnavailable
		}
	}
	for _, id := range h.accounts {
		s.localLeft[id] -= h.amount
	}
	h.local = true
	return h, nil
}

// budgetsSeen keeps what Redis says each account has left, for the
// replica's share while Redis fails.
func (s *redisStore) budgetsSeen(accounts []string, left []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left == nil {
		s.left = map[string]int64{}
	}
	for i, id := range accounts {
		s.left[id] = left[i]
		// Redis's count includes what the replica spent while it failed
		// (settled before it was counted on again): a new outage takes a
		// new share of it. Until then, one that flaps keeps the old share.
		delete(s.localLeft, id)
	}
}

// pendingSettlement is a settlement Redis has not taken yet.
type pendingSettlement struct {
	keys   []string // its marker, then spent and held per account
	member string   // the hold's id
	spent  int64
	expire []int64 // per account: when its spent count expires (ms since the epoch), 0 never
}

func (s *redisStore) settle(h *Hold, spent int64) {
	p := pendingSettlement{member: h.id, spent: spent, keys: []string{s.cfg.Prefix + "budget:settled:" + h.id}}
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
	if h.local {
		s.mu.Lock()
		for _, id := range h.accounts {
			if _, ok := s.localLeft[id]; ok {
				s.localLeft[id] += h.amount - min(spent, h.amount) // what the request did not use
			}
		}
		s.mu.Unlock()
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

// applySettlements gives Redis the settlements it missed, in one
// pipelined round trip; those that fail wait for the next heartbeat. A
// settlement Redis took though the gateway saw it fail is not counted
// twice: its marker says it was applied.
func (s *redisStore) applySettlements() error {
	ps := s.settlements.take()
	if len(ps) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*s.cfg.Timeout)
	defer cancel()
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(ps))
	for i, p := range ps {
		args := []any{p.member, p.spent}
		for _, e := range p.expire {
			args = append(args, e)
		}
		cmds[i] = settleScript.Eval(ctx, pipe, p.keys, args...)
	}
	_, err := pipe.Exec(ctx)
	for i, c := range cmds {
		if c.Err() != nil {
			s.settlements.add(ps[i])
		}
	}
	return err
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
// (ARGV[4...]). It returns {1, what each budget has left after it} or {0,
// the budget that refused (1-based), its spent, its held}.
var reserveScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl, member, amount = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local n = #KEYS / 2
local left = {}
for i = 1, n do
  local held = KEYS[2*i]
  redis.call("ZREMRANGEBYSCORE", held, "-inf", now)
  local sum = 0
  for _, m in ipairs(redis.call("ZRANGE", held, 0, -1)) do
    sum = sum + tonumber(string.match(m, ":(%d+)$"))
  end
  local spent = tonumber(redis.call("GET", KEYS[2*i-1]) or "0")
  if spent + sum + amount > tonumber(ARGV[3+i]) then return {0, i, spent, sum} end
  left[i] = tonumber(ARGV[3+i]) - spent - sum - amount
end
for i = 1, n do
  redis.call("ZADD", KEYS[2*i], now + ttl, member)
  redis.call("PEXPIRE", KEYS[2*i], ttl)
end
return {1, unpack(left)}
`)

// settleScript ends hold ARGV[1] and adds ARGV[2] µUSD to each budget's
// spent count — KEYS[1] its marker, then in pairs each budget's spent
// count and holds — which expires at ARGV[2+i] (ms since the epoch; 0
// never). A settlement whose marker is set was applied: it does nothing.
var settleScript = redis.NewScript(`
if not redis.call("SET", KEYS[1], "1", "NX", "PX", 86400000) then return 0 end
local n = (#KEYS - 1) / 2
for i = 1, n do
  redis.call("ZREM", KEYS[2*i+1], ARGV[1])
  redis.call("INCRBY", KEYS[2*i], ARGV[2])
  local exp = tonumber(ARGV[2+i])
  if exp > 0 then redis.call("PEXPIREAT", KEYS[2*i], exp) end
end
return 1
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
