package gateway

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/khive-go/khive/app/gateway/admission"
	"github.com/khive-go/khive/providers/openai"
)

// The output items the gateway produced translating Responses requests,
// kept so that a later request can name them by item_reference (the AI
// SDK does, for the assistant's text of a tool loop's earlier step): per
// client key, at most itemsKept of them and itemsBytes in all, each for
// itemsTTL. Items of responses passed through are the provider's to keep.
const (
	itemsKept  = 10_000
	itemsBytes = 64 << 20
	itemsTTL   = time.Hour
)

type itemKey struct {
	key string // the client key's name, "" without auth
	id  string
}

type keptItem struct {
	item    json.RawMessage
	expires time.Time
}

// itemCache is bounded by count and bytes (oldest first out) and by age.
type itemCache struct {
	mu    sync.Mutex
	items map[itemKey]keptItem
	order []itemKey // insertion order, oldest first
	bytes int
	now   func() time.Time
}

func newItemCache() *itemCache {
	return &itemCache{items: map[itemKey]keptItem{}, now: time.Now}
}

// keep records the items of a response given to key.
func (c *itemCache) keep(key *admission.Key, output []openai.OutputItem) {
	if len(output) == 0 {
		return
	}
	name := keyLabel(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.now().Add(itemsTTL)
	for _, it := range output {
		if it.ID == "" {
			continue
		}
		b, err := json.Marshal(it)
		if err != nil {
			continue
		}
		k := itemKey{name, it.ID}
		if old, ok := c.items[k]; ok { // the same id again: the newer wins
			c.bytes -= len(old.item)
		} else {
			c.order = append(c.order, k)
		}
		c.items[k] = keptItem{b, exp}
		c.bytes += len(b)
		for len(c.items) > itemsKept || c.bytes > itemsBytes {
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
	if cap(c.order) > 2*itemsKept { // let go of the array's evicted front
		c.order = append([]itemKey(nil), c.order...)
	}
}

// resolve replaces the item_reference items of a Responses input with the
// items they name, those the gateway gave key; a reference to anything
// else is an error naming it.
func (c *itemCache) resolve(key *admission.Key, input json.RawMessage) (json.RawMessage, error) {
	var items []json.RawMessage
	if json.Unmarshal(input, &items) != nil {
		return input, nil // a string, or not an array: the translation says what is wrong
	}
	name, changed := keyLabel(key), false
	for i, raw := range items {
		var ref struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		if json.Unmarshal(raw, &ref) != nil || ref.Type != "item_reference" {
			continue
		}
		c.mu.Lock()
		kept, ok := c.items[itemKey{name, ref.ID}]
		c.mu.Unlock()
		if !ok || c.now().After(kept.expires) {
			return nil, badRequest(fmt.Sprintf("input[%d].id", i),
				"item_reference %q names no item this gateway gave this key in the last %v; send the item itself", truncate(ref.ID), itemsTTL)
		}
		items[i], changed = kept.item, true
	}
	if !changed {
		return input, nil
	}
	return json.Marshal(items)
}
