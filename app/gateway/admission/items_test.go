package admission

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func items(prefix string, from, to int, size int) []Item {
	var out []Item
	for i := from; i < to; i++ {
		out = append(out, Item{ID: fmt.Sprintf("%s%d", prefix, i), JSON: []byte(`"` + strings.Repeat("x", size) + `"`)})
	}
	return out
}

// boundItems sets a store's item bounds (the defaults' 10 000 items and
// 64 MiB take seconds to fill under -race).
func boundItems(s Store, b itemBounds) {
	switch s := s.(type) {
	case *memory:
		s.items.bounds = b
	case *redisStore:
		s.itemBounds = b
	}
}

// Items are kept per client key, the newer of one id wins, and at most
// the bound's count are kept, oldest out first; on every store.
func TestItemsAreKeptPerKeyAndBoundedByCount(t *testing.T) {
	ctx := context.Background()
	const kept = 200
	for _, f := range stores(t, StoreConfig{}) {
		t.Run(f.name, func(t *testing.T) {
			boundItems(f.store, itemBounds{kept: kept, bytes: itemsBytes})
			a, b := key(t, ClientKey{Name: "a"}), key(t, ClientKey{Name: "b"})
			require.NoError(t, f.store.KeepItems(ctx, a, []Item{{ID: "msg_1", JSON: []byte(`{"v":1}`)}}))
			require.NoError(t, f.store.KeepItems(ctx, a, []Item{{ID: "msg_1", JSON: []byte(`{"v":2}`)}}))
			got, ok, err := f.store.Item(ctx, a, "msg_1")
			require.NoError(t, err)
			require.True(t, ok)
			assert.JSONEq(t, `{"v":2}`, string(got))
			_, ok, err = f.store.Item(ctx, b, "msg_1")
			require.NoError(t, err)
			assert.False(t, ok, "another key's item")
			_, ok, err = f.store.Item(ctx, nil, "msg_1")
			require.NoError(t, err)
			assert.False(t, ok, "no key's item")

			for i := 0; i < kept+5; i += 20 {
				require.NoError(t, f.store.KeepItems(ctx, a, items("n", i, min(i+20, kept+5), 1)))
			}
			_, ok, _ = f.store.Item(ctx, a, "msg_1")
			assert.False(t, ok, "the oldest went first")
			_, ok, _ = f.store.Item(ctx, a, "n4")
			assert.False(t, ok)
			_, ok, _ = f.store.Item(ctx, a, "n5")
			assert.True(t, ok, "the newest stay")
			_, ok, _ = f.store.Item(ctx, a, fmt.Sprint("n", kept+4))
			assert.True(t, ok)
		})
	}
}

// And at most the bound's bytes in all; an item over itemMaxBytes is not
// kept.
func TestItemsAreBoundedByBytes(t *testing.T) {
	ctx := context.Background()
	for _, f := range stores(t, StoreConfig{}) {
		t.Run(f.name, func(t *testing.T) {
			boundItems(f.store, itemBounds{kept: itemsKept, bytes: 8 * itemMaxBytes})
			a := key(t, ClientKey{Name: "a"})
			big := itemMaxBytes - 2 // with its quotes, exactly the cap
			n := 8 + 3
			for i := range n {
				require.NoError(t, f.store.KeepItems(ctx, a, items("big", i, i+1, big)))
			}
			_, ok, _ := f.store.Item(ctx, a, "big2")
			assert.False(t, ok, "the oldest went to stay within itemsBytes")
			_, ok, _ = f.store.Item(ctx, a, "big3")
			assert.True(t, ok)
			require.NoError(t, f.store.KeepItems(ctx, a, items("huge", 0, 1, itemMaxBytes)))
			_, ok, _ = f.store.Item(ctx, a, "huge0")
			assert.False(t, ok, "over itemMaxBytes: not kept")
		})
	}
}

func TestItemsExpire(t *testing.T) {
	c := newItemCache()
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }
	c.keep(nil, []Item{{ID: "msg", JSON: []byte(`{}`)}})
	_, ok := c.get(nil, "msg")
	require.True(t, ok)
	now = now.Add(ItemsTTL + time.Second)
	_, ok = c.get(nil, "msg")
	assert.False(t, ok, "none outlives ItemsTTL")

	m := miniredis.RunT(t)
	s, _ := openRedis(t, StoreConfig{URL: "redis://" + m.Addr()})
	require.NoError(t, s.KeepItems(context.Background(), nil, []Item{{ID: "msg", JSON: []byte(`{}`)}}))
	m.FastForward(ItemsTTL + time.Second)
	_, ok, err := s.Item(context.Background(), nil, "msg")
	require.NoError(t, err)
	assert.False(t, ok, "on Redis too")
	for _, k := range m.Keys() {
		assert.NotContains(t, k, "item", "the index, the sizes and the total expire with it")
	}
}

// While Redis fails, items are neither kept nor read: an error, not a
// wrong "no such item".
func TestItemsWhileRedisFails(t *testing.T) {
	ctx := context.Background()
	for _, f := range stores(t, StoreConfig{}) {
		if f.down == nil {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			require.NoError(t, f.store.KeepItems(ctx, nil, []Item{{ID: "msg", JSON: []byte(`{}`)}}))
			f.down()
			_, _, err := f.store.Item(ctx, nil, "msg")
			require.Error(t, err)
			_, _, err = f.store.Item(ctx, nil, "msg")
			assert.ErrorIs(t, err, ErrStoreUnavailable, "once known to fail, at once")
			assert.ErrorIs(t, f.store.KeepItems(ctx, nil, []Item{{ID: "m2", JSON: []byte(`{}`)}}), ErrStoreUnavailable)
		})
	}
}
