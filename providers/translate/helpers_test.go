package translate_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/providers/openai"
	"github.com/khive-go/khive/providers/translate"
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

// feed gives s an event of each data, then ends it, and returns all it
// gave.
func feed(s translate.Stream, datas ...string) []translate.Event {
	var out []translate.Event
	for _, d := range datas {
		out = append(out, s.Event(translate.Event{Data: d})...)
	}
	return append(out, s.End()...)
}

// chunksOf decodes chat chunks, skipping [DONE].
func chunksOf(t *testing.T, evs []translate.Event) []openai.ChatChunk {
	t.Helper()
	var out []openai.ChatChunk
	for _, ev := range evs {
		if ev.Data == "[DONE]" {
			continue
		}
		var c openai.ChatChunk
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &c), ev.Data)
		out = append(out, c)
	}
	return out
}

// infallible adapts a translation that cannot fail to assertTranslates.
func infallible[I, O any](f func(I) O) func(I) (O, error) {
	return func(v I) (O, error) { return f(v), nil }
}
