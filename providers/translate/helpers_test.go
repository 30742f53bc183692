package translate_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// assertTranslates decodes in as an I, translates it with f and asserts
// that the result encodes to the JSON want.
func assertTranslates[I, O any](t *testing.T, in string, f func(I) (O, error), want string) {
	t.Helper()
	var v I
	require.NoError(t, json.Unmarshal([]byte(in), &v))
	out, err := f(v)
	require.NoError(t, err)
	b, err := json.Marshal(out)
	require.NoError(t, err)
	assert.JSONEq(t, want, string(b))
}

// infallible adapts a translation that cannot fail to assertTranslates.
func infallible[I, O any](f func(I) O) func(I) (O, error) {
	return func(v I) (O, error) { return f(v), nil }
}
