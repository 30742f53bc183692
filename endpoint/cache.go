package endpoint

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"time"
)

// cache holds 2xx responses by request key for a TTL, bounded by an LRU,
// and collapses concurrent identical requests into one upstream call.
type cache struct {
	ttl time.Duration
	max int

	mu       sync.Mutex
	entries  map[[32]byte]*list.Element // of *cacheEntry
	lru      *list.List
	inflight map[[32]byte]*flight
}

type cacheEntry struct {
	key     [32]byte
	resp    *Response
	expires time.Time
}

// flight is one upstream call that identical requests wait on.
type flight struct {
	waiters int // guarded by cache.mu
	done    chan struct{}
	resp    *Response
	err     error
}

func newCache(cfg CacheConfig) *cache {
	return &cache{
		ttl:      cfg.TTL,
		max:      cfg.MaxEntries,
		entries:  make(map[[32]byte]*list.Element),
		lru:      list.New(),
		inflight: make(map[[32]byte]*flight),
	}
}

// cacheKey hashes method, URL and the canonical body (object keys sorted),
// never headers: the auth header and key stay out of it.
func cacheKey(method, url string, body []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write([]byte(url))
	h.Write([]byte{0})
	h.Write(canonicalJSON(body))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// canonicalJSON re-encodes JSON with sorted keys; other bodies pass as-is.
func canonicalJSON(body []byte) []byte {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return body
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}

// do returns a fresh cached response or calls fetch once for all concurrent
// identical requests. When the call that others waited on ended with its own
// caller's cancellation, a waiter whose ctx is still live tries again itself.
func (c *cache) do(ctx context.Context, key [32]byte, fetch func() (*Response, error)) (*Response, error) {
	for {
		c.mu.Lock()
		if resp, ok := c.getLocked(key, time.Now()); ok {
			c.mu.Unlock()
			return resp, nil
		}
		if f, ok := c.inflight[key]; ok {
			f.waiters++
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if f.err != nil && isContextErr(f.err) && ctx.Err() == nil {
				continue
			}
			return f.resp.shared(), f.err
		}
		f := &flight{done: make(chan struct{})}
		c.inflight[key] = f
		c.mu.Unlock()

		f.resp, f.err = fetch()
		c.mu.Lock()
		delete(c.inflight, key)
		if f.err == nil && f.resp.Status/100 == 2 {
			c.putLocked(key, f.resp, time.Now())
		}
		c.mu.Unlock()
		close(f.done)
		return f.resp, f.err
	}
}

func (c *cache) getLocked(key [32]byte, now time.Time) (*Response, bool) {
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.entries, key)
		return nil, false
	}
	c.lru.MoveToFront(el)
	r := e.resp.shared()
	r.Cached = true
	return r, true
}

func (c *cache) putLocked(key [32]byte, resp *Response, now time.Time) {
	if el, ok := c.entries[key]; ok {
		c.lru.Remove(el)
	}
	c.entries[key] = c.lru.PushFront(&cacheEntry{key: key, resp: resp.shared(), expires: now.Add(c.ttl)})
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).key)
	}
}

// Len is the number of cached entries.
func (c *cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// waiting is how many callers wait on in-flight identical requests.
func (c *cache) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.inflight {
		n += f.waiters
	}
	return n
}
