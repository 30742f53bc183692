package jsonscan

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

var validCorpus = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e+10`, `-12.25E-3`, `true`, `false`, `null`, ` {"a" : [1, 2, {"b": null}], "c": "\u00e9\n\"\\\/"} `,
	`{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hé ✓"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3}}`,
	"\"raw \xff bytes\"", // invalid UTF-8: encoding/json accepts it
}

var invalidCorpus = []string{
	``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `{a:1}`, `'x'`, `01`, `1.`, `.5`, `1e`, `-`, `+1`,
	`tru`, `nul`, `"\x"`, `"\u12"`, `"\u12G4"`, "\"a\x01b\"", `"unterminated`, `{} {}`, `[` + strings.Repeat("[", 10001) + strings.Repeat("]", 10002),
	`{"a":1}x`, `NaN`, `Infinity`,
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range validCorpus {
		assert.True(t, json.Valid([]byte(s)), "corpus: %q", s)
		assert.True(t, Valid([]byte(s)), "%q", s)
	}
	for _, s := range invalidCorpus {
		assert.False(t, json.Valid([]byte(s)), "corpus: %q", s)
		assert.False(t, Valid([]byte(s)), "%q", s)
	}
	// Every prefix, and random one-byte changes, of the valid documents:
	// the two agree on each.
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`{}[]":,\ 0123456789.eE+-tfnrulsa` + "\x00\x1f\x7f\xff")
	for _, s := range validCorpus {
		for n := range len(s) + 1 {
			assert.Equal(t, json.Valid([]byte(s[:n])), Valid([]byte(s[:n])), "prefix %q", s[:n])
		}
		for range 2000 {
			b := []byte(s)
			b[rng.IntN(len(b))] = alphabet[rng.IntN(len(alphabet))]
			assert.Equal(t, json.Valid(b), Valid(b), "%q", b)
		}
	}
}

func BenchmarkValid(b *testing.B) {
	doc := []byte(validCorpus[len(validCorpus)-2])
	b.Run("jsonscan", func(b *testing.B) {
		for b.Loop() {
			Valid(doc)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			json.Valid(doc)
		}
	})
}
