package gateway

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTopFieldsAndSplice(t *testing.T) {
	raw := []byte(` { "z": [1, {"model": "inner"}, "]"], "model" : "client\"s" ,"s\u0074ream":true, "x":{"a":"}"}, "n": -1.5e3 ,"model":"last"} `)
	require.True(t, json.Valid(raw))
	f, err := topFields(raw, "stream", "n", "missing", "z")
	require.NoError(t, err)
	assert.Equal(t, `"last"`, string(f.model.value), "the last of a repeated key, as decoders take it")
	get := func(name string) string {
		m, ok := f.get(name)
		if !ok {
			return "(none)"
		}
		return string(m.value)
	}
	assert.Equal(t, `true`, get("stream"), "an escaped key is read as its decoded name")
	assert.Equal(t, `-1.5e3`, get("n"))
	assert.Equal(t, "(none)", get("missing"))
	assert.Equal(t, `[1, {"model": "inner"}, "]"]`, get("z"))
	assert.Equal(t, "(none)", get("x"), "only the keys asked for are kept")

	out := withValue(raw, f.model, []byte(`"target"`))
	assert.Equal(t, ` { "z": [1, {"model": "inner"}, "]"], "model" : "client\"s" ,"s\u0074ream":true, "x":{"a":"}"}, "n": -1.5e3 ,"model":"target"} `, string(out),
		"everything else byte for byte: order, spacing, escapes, nested models")

	for _, bad := range []string{`[1]`, `"s"`, `3`} {
		_, err := topFields([]byte(bad), "model")
		assert.ErrorIs(t, err, errNotObject, bad)
	}
}

// withString splices a JSON string that decodes to the name given, for
// names that need escapes too.
func TestWithStringSplicesAnyName(t *testing.T) {
	raw := []byte(`{"a":1,"model":"x","b":[2]}`)
	f, err := topFields(raw)
	require.NoError(t, err)
	for _, name := range []string{"gpt-4o-mini", "org/model:tag", `quo"te`, `back\slash`, "tab\there", "é-ünïcode", "\x00", ""} {
		out := withString(raw, f.model, name)
		var got struct {
			A     int
			Model string
			B     []int
		}
		require.NoError(t, json.Unmarshal(out, &got), "%q: %s", name, out)
		assert.Equal(t, name, got.Model)
		assert.Equal(t, 1, got.A)
		assert.Equal(t, []int{2}, got.B)
	}
	assert.Equal(t, `{"a":1,"model":"plain","b":[2]}`, string(withString(raw, f.model, "plain")))
}
