package admission

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Output items the gateway produced translating Responses requests are kept
// so that a later request can name them by item_reference (the AI SDK
// does, for the assistant's text of a tool loop's earlier step): keyed by
// client key and item id, at most itemsKept of them and itemsBytes in all
// (oldest out first: per process in memory, per store on Redis), each for
// ItemsTTL; an item larger than itemMaxBytes is not kept.
const (
	itemsKept    = 10_000
	itemsBytes   = 64 << 20
	itemMaxBytes = 1 << 20
)

// ItemsTTL is how long a kept item can be referenced.
const ItemsTTL = time.Hour

// Item is an output item by its id, as JSON.
type Item struct {
	ID   string
	JSON []byte
}

// owner names the key an item was given to ("" without auth).
func owner(k *Key) string {
	if k == nil {
		return ""
	}
	return k.name
}

type itemKey struct{ owner, id string }

type keptItem struct {
	item    []byte
	expires time.Time
}

// itemBounds are a store's bounds on kept items (itemsKept and itemsBytes;
// smaller in tests).
type itemBounds struct{ kept, bytes int }

var defaultItemBounds = itemBounds{itemsKept, itemsBytes}

// itemCache is the memory store's: bounded by count and bytes (oldest out
// first) and by age.
type itemCache struct {
	mu     sync.Mutex
	items  map[itemKey]keptItem
	order  []itemKey // insertion order, oldest first
	bytes  int
	bounds itemBounds
	now    func() time.Time
}

func newItemCache() *itemCache {
	return &itemCache{items: map[itemKey]keptItem{}, bounds: defaultItemBounds, now: time.Now}
}

func (c *itemCache) keep(k *Key, items []Item) {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.now().Add(ItemsTTL)
	for _, it := range items {
		if it.ID == "" || len(it.JSON) > itemMaxBytes {
			continue
		}
		key := itemKey{owner(k), it.ID}
		if old, ok := c.items[key]; ok { // the same id again: the newer wins
			c.bytes -= len(old.item)
		} else {
			c.order = append(c.order, key)
		}
		c.items[key] = keptItem{it.JSON, exp}
		c.bytes += len(it.JSON)
		for len(c.items) > c.bounds.kept || c.bytes > c.bounds.bytes {
			c.evictOldest()
		}
	}
}

func (c *itemCache) evictOldest() {
	k := c.order[0]
	c.order = c.order[1:]
	if kept, ok := c.items[k]; ok {
		c.bytes -= len(kept.item)
		delete(c.items, k)
	}
	if cap(c.order) > 2*c.bounds.kept { // let go of the array's evicted front
		c.order = append([]itemKey(nil), c.order...)
	}
}

func (c *itemCache) get(k *Key, id string) ([]byte, bool) {
	c.mu.Lock()
	kept, ok := c.items[itemKey{owner(k), id}]
	c.mu.Unlock()
	if !ok || c.now().After(kept.expires) {
		return nil, false
	}
	return kept.item, true
}

// KeepItems implements Store, in the process.
func (m *memory) KeepItems(_ context.Context, k *Key, items []Item) error {
	m.items.keep(k, items)
	return nil
}

// Item implements Store.
func (m *memory) Item(_ context.Context, k *Key, id string) ([]byte, bool, error) {
	b, ok := m.items.get(k, id)
	return b, ok, nil
}

// keepItemsScript keeps items in one round trip: each under its own key
// with the TTL, listed in an index (KEYS[1], scored by when it was kept,
// in ms, each score above the last by at least 1/1024 so that the order
// is the order kept) with its size (KEYS[2], a hash; KEYS[3] the total);
// then what expired leaves the index, and the oldest go while the count
// or the bytes are over their bounds. ARGV: now ms, ttl ms, max items,
// max bytes, then key and item pairs.
var keepItemsScript = redis.NewScript(`
local now, ttl, maxn, maxb = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local function drop(k)
  local size = tonumber(redis.call('HGET', KEYS[2], k) or '0')
  redis.call('DEL', k)
  redis.call('HDEL', KEYS[2], k)
  redis.call('ZREM', KEYS[1], k)
  redis.call('DECRBY', KEYS[3], size)
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local score = now
for i = 5, #ARGV, 2 do
  local k, v = ARGV[i], ARGV[i+1]
  if redis.call('HEXISTS', KEYS[2], k) == 1 then drop(k) end
  if #last == 2 then score = math.max(score, tonumber(last[2]) + 1/1024) end
  last = {k, score}
  redis.call('SET', k, v, 'PX', ttl)
  redis.call('ZADD', KEYS[1], score, k)
  redis.call('HSET', KEYS[2], k, #v)
  redis.call('INCRBY', KEYS[3], #v)
end
for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - ttl)) do drop(k) end
while redis.call('ZCARD', KEYS[1]) > maxn or tonumber(redis.call('GET', KEYS[3]) or '0') > maxb do
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0)
  if #oldest == 0 then break end
  drop(oldest[1])
end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ttl) end
return 1
`)

// itemKey is the Redis key of k's item id.
func (s *redisStore) itemKey(k *Key, id string) string {
	o := owner(k)
	return s.cfg.Prefix + "item:" + strconv.Itoa(len(o)) + ":" + o + ":" + id
}

// KeepItems implements Store: shared with every replica. While Redis
// fails, items are not kept (a reference to them is then refused).
func (s *redisStore) KeepItems(ctx context.Context, k *Key, items []Item) error {
	if s.failing.Load() {
		return ErrStoreUnavailable
	}
	p := s.cfg.Prefix + "items:"
	args := []any{time.Now().UnixMilli(), ItemsTTL.Milliseconds(), s.itemBounds.kept, s.itemBounds.bytes}
	for _, it := range items {
		if it.ID != "" && len(it.JSON) <= itemMaxBytes {
			args = append(args, s.itemKey(k, it.ID), it.JSON)
		}
	}
	if len(args) == 4 {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := keepItemsScript.Run(rctx, s.rdb, []string{p + "index", p + "sizes", p + "bytes"}, args...).Err(); err != nil {
		if ctx.Err() == nil {
			s.failed(err)
		}
		return fmt.Errorf("keeping output items: %w", err)
	}
	s.recovered()
	return nil
}

// Item implements Store.
func (s *redisStore) Item(ctx context.Context, k *Key, id string) ([]byte, bool, error) {
	if s.failing.Load() {
		return nil, false, ErrStoreUnavailable
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	b, err := s.rdb.Get(rctx, s.itemKey(k, id)).Bytes()
	switch {
	case err == redis.Nil:
		return nil, false, nil
	case err != nil:
		if ctx.Err() == nil {
			s.failed(err)
		}
		return nil, false, fmt.Errorf("reading output item %q: %w", id, err)
	}
	s.recovered()
	return b, true, nil
}
