package endpoint

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCacheTTLWithFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCache(CacheConfig{TTL: time.Minute, MaxEntries: 10})
		calls := 0
		fetch := func() (*Response, error) { calls++; return &Response{Status: 200, Body: []byte("x")}, nil }
		key := cacheKey("POST", "u", []byte(`{}`))
		for range 2 {
			_, err := c.do(context.Background(), key, fetch)
			require.NoError(t, err)
		}
		assert.Equal(t, 1, calls, "served from the cache within the TTL")
		time.Sleep(time.Minute - time.Nanosecond)
		r, err := c.do(context.Background(), key, fetch)
		require.NoError(t, err)
		assert.True(t, r.Cached)
		time.Sleep(time.Nanosecond) // exactly the TTL: expired
		r, err = c.do(context.Background(), key, fetch)
		require.NoError(t, err)
		assert.False(t, r.Cached)
		assert.Equal(t, 2, calls)
	})
}
