package jsonscan

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func members(t *testing.T, raw string) (map[string]string, error) {
	t.Helper()
	out := map[string]string{}
	err := Members([]byte(raw), func(k []byte, start, end int) bool {
		out[string(k)] = raw[start:end]
		return true
	})
	return out, err
}

func TestMembers(t *testing.T) {
	got, err := members(t, ` { "id" : "a\"b", "n":12, "o":{"x":[1,{"y":"}"}]}, "a":[], "t":true, "z":null, "k\u0065y":1 } `)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"id": `"a\"b"`, "n": "12", "o": `{"x":[1,{"y":"}"}]}`, "a": "[]", "t": "true", "z": "null", "key": "1"}, got)

	got, err = members(t, `{}`)
	require.NoError(t, err)
	assert.Empty(t, got)

	var seen []string
	require.NoError(t, Members([]byte(`{"a":1,"b":2,"c":3}`), func(k []byte, _, _ int) bool {
		seen = append(seen, string(k))
		return string(k) != "b"
	}))
	assert.Equal(t, []string{"a", "b"}, seen, "f's false stops the scan")
}

func TestElements(t *testing.T) {
	var got []string
	raw := ` [ {"a":"]"}, 2 ,"x",[[]] ] `
	require.NoError(t, Elements([]byte(raw), func(start, end int) bool {
		got = append(got, raw[start:end])
		return true
	}))
	assert.Equal(t, []string{`{"a":"]"}`, "2", `"x"`, "[[]]"}, got)
	require.NoError(t, Elements([]byte(`[]`), func(int, int) bool { t.Fatal("no element"); return true }))
}

func TestString(t *testing.T) {
	for in, want := range map[string]string{`"plain"`: "plain", `"es\"c\u00e9"`: `es"cé`, `""`: ""} {
		s, ok := String([]byte(in))
		assert.True(t, ok, in)
		assert.Equal(t, want, s, in)
	}
	for _, in := range []string{`null`, `12`, `"`, ``, `"bad\`} {
		_, ok := String([]byte(in))
		assert.False(t, ok, in)
	}
}

// Whatever the bytes, an error or members, never a panic: every prefix of
// valid documents, and bytes that are not JSON.
func TestMalformedInputIsAnErrorNotAPanic(t *testing.T) {
	docs := []string{
		`{"id":"chatcmpl-1","choices":[{"index":0,"message":{"content":"a\"}"},"finish_reason":"stop"}],"usage":{"total_tokens":3}}`,
		`[{"a":[1,2,{"b":"c"}]},"d"]`,
	}
	for _, d := range docs {
		for n := range len(d) {
			_ = Members([]byte(d[:n]), func([]byte, int, int) bool { return true })
			_ = Elements([]byte(d[:n]), func(int, int) bool { return true })
		}
	}
	for _, bad := range []string{`{`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,`, `{a:1}`, `{"a" 1}`, `{"a":1 "b":2}`, `{"a":}`, `[1 2]`, `[`, `x`, ``, `{"a":"\`} {
		err := Members([]byte(bad), func([]byte, int, int) bool { return true })
		if err == nil {
			err = Elements([]byte(bad), func(int, int) bool { return true })
		}
		assert.ErrorIs(t, err, ErrSyntax, bad)
	}
}

// On valid JSON the members are encoding/json's.
func TestMembersAgreeWithEncodingJSON(t *testing.T) {
	raw := []byte(`{"model":"m","messages":[{"role":"user","content":"hé \"x\""}],"max_tokens":5,"stream":false,"meta":{"k":[null]}}`)
	var want map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &want))
	got := map[string]json.RawMessage{}
	require.NoError(t, Members(raw, func(k []byte, start, end int) bool {
		got[string(k)] = raw[start:end]
		return true
	}))
	assert.Equal(t, want, got)
}
