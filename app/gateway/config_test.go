package gateway_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/app/gateway/admission"
	"github.com/khive-go/khive/endpoint"
)

func TestDefaultFile(t *testing.T) {
	env := map[string]string{"GROQ_API_KEY": "gsk", "MISTRAL_API_KEY": "m", "OLLAMA_HOST": "127.0.0.1:11500", "ANTHROPIC_API_KEY": "ak"}
	f, decisions := gateway.DefaultFile(func(k string) string { return env[k] })
	assert.ElementsMatch(t, []string{"anthropic", "groq", "mistral", "mistral-embeddings", "ollama", "ollama-embeddings"}, keys(f.Endpoints))
	byProvider := map[string]gateway.Decision{}
	for _, d := range decisions {
		byProvider[d.Provider] = d
	}
	assert.Equal(t, "OPENAI_API_KEY is not set", byProvider["openai"].Skipped)
	assert.Contains(t, byProvider["exa"].Skipped, "no gateway route")
	assert.Equal(t, []string{"mistral", "mistral-embeddings"}, byProvider["mistral"].Configured)
	cfgs, err := f.Config.Resolve()
	require.NoError(t, err, "the default config is valid")
	assert.Equal(t, "gsk", cfgs["groq"].APIKey.Reveal())
	assert.Equal(t, "https://api.groq.com/openai/v1", cfgs["groq"].BaseURL)
	assert.Equal(t, "http://127.0.0.1:11500/v1", cfgs["ollama-embeddings"].BaseURL)
}

func TestGatewayConfigValidate(t *testing.T) {
	eps := map[string]endpoint.Config{"up": {}}
	err := gateway.Config{
		Listen: "0.0.0.0:8080", Keys: admission.Keys(""), MaxBodyBytes: -1, DrainDelay: -1,
		Models: map[string][]gateway.Target{"a": {{Endpoint: "nope"}}, "b": {}},
	}.Validate(eps)
	require.Error(t, err)
	for _, want := range []string{
		"gateway.keys: required when listening on a non-loopback address",
		"gateway.max_body_bytes: must be >= 0", "gateway.drain_delay: must be >= 0",
		`gateway.models.a[0].endpoint: unknown endpoint "nope"`, "gateway.models.a[0].model: is required",
		"gateway.models.b: needs at least one target",
	} {
		assert.ErrorContains(t, err, want)
	}
	assert.NoError(t, gateway.Config{Listen: "127.0.0.1:0"}.Validate(eps), "no keys on loopback is allowed")
	assert.NoError(t, gateway.Config{Listen: "0.0.0.0:80", Keys: admission.Keys("k")}.Validate(eps))
	assert.ErrorContains(t, gateway.Config{Listen: "nope"}.Validate(eps), "gateway.listen: want host:port")

	err = gateway.Config{Listen: "127.0.0.1:0", Models: map[string][]gateway.Target{"fast": {{Endpoint: "up", Model: "m"}}},
		UnsupportedTools: map[string]string{"up": "drop", "ghost": "drop", "fast": "keep"},
		Reasoning:        map[string]string{"fast": "map", "up": "maybe", "nowhere": "drop"}}.Validate(eps)
	for _, want := range []string{
		`gateway.unsupported_tools.ghost: no endpoint or alias "ghost"`, `gateway.unsupported_tools.fast: want refuse or drop, got "keep"`,
		`gateway.reasoning.up: want map or drop, got "maybe"`, `gateway.reasoning.nowhere: no endpoint or alias "nowhere"`,
	} {
		assert.ErrorContains(t, err, want)
	}
	assert.NotContains(t, err.Error(), "unsupported_tools.up")
	assert.NotContains(t, err.Error(), "reasoning.fast")
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
