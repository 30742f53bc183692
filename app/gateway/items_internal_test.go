package gateway

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/providers/openai"
)

func TestItemCacheIsBoundedByCountAndAge(t *testing.T) {
	c := newItemCache()
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }
	ref := func(id string) json.RawMessage {
		return json.RawMessage(`[{"type":"item_reference","id":"` + id + `"}]`)
	}
	for i := range itemsKept + 5 {
		c.keep(nil, []openai.OutputItem{{Type: "message", ID: fmt.Sprintf("msg_%d", i)}})
	}
	assert.Len(t, c.items, itemsKept, "at most itemsKept")
	_, err := c.resolve(nil, ref("msg_0"))
	assert.Error(t, err, "the oldest went first")
	got, err := c.resolve(nil, ref(fmt.Sprintf("msg_%d", itemsKept+4)))
	require.NoError(t, err)
	assert.Contains(t, string(got), `"type":"message"`)
	now = now.Add(itemsTTL + time.Second)
	_, err = c.resolve(nil, ref(fmt.Sprintf("msg_%d", itemsKept+4)))
	assert.Error(t, err, "and none outlives itemsTTL")
}
