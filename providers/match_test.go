package providers_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers"
)

func env(kv ...string) providers.MatchOption {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return providers.WithGetenv(func(k string) string { return m[k] })
}

func TestCatalogMatchesProviderFacts(t *testing.T) {
	for _, tt := range []struct {
		provider, endpoint, baseURL, path, auth, keyEnv string
	}{
		{"openai", "chat", "https://api.openai.com/v1", "chat/completions", "bearer", "OPENAI_API_KEY"},
		{"openai", "embeddings", "https://api.openai.com/v1", "embeddings", "bearer", "OPENAI_API_KEY"},
		{"openai", "responses", "https://api.openai.com/v1", "responses", "bearer", "OPENAI_API_KEY"},
		{"anthropic", "messages", "https://api.anthropic.com/v1", "messages", "x-api-key", "ANTHROPIC_API_KEY"},
		{"groq", "chat", "https://api.groq.com/openai/v1", "chat/completions", "bearer", "GROQ_API_KEY"},
		{"openrouter", "chat", "https://openrouter.ai/api/v1", "chat/completions", "bearer", "OPENROUTER_API_KEY"},
		{"perplexity", "chat", "https://api.perplexity.ai", "chat/completions", "bearer", "PERPLEXITY_API_KEY"},
		{"gemini", "chat", "https://generativelanguage.googleapis.com/v1beta/openai", "chat/completions", "bearer", "GEMINI_API_KEY"},
		{"gemini", "embeddings", "https://generativelanguage.googleapis.com/v1beta/openai", "embeddings", "bearer", "GEMINI_API_KEY"},
		{"deepseek", "chat", "https://api.deepseek.com/v1", "chat/completions", "bearer", "DEEPSEEK_API_KEY"},
		{"mistral", "embeddings", "https://api.mistral.ai/v1", "embeddings", "bearer", "MISTRAL_API_KEY"},
		{"together", "chat", "https://api.together.ai/v1", "chat/completions", "bearer", "TOGETHER_API_KEY"},
		{"exa", "search", "https://api.exa.ai", "search", "x-api-key", "EXA_API_KEY"},
	} {
		t.Run(tt.provider+"/"+tt.endpoint, func(t *testing.T) {
			cfg, err := providers.Match(tt.provider, tt.endpoint, env(tt.keyEnv, "k-123"))
			require.NoError(t, err)
			assert.Equal(t, tt.baseURL, cfg.BaseURL)
			assert.Equal(t, tt.path, cfg.Path)
			assert.Equal(t, tt.auth, cfg.Auth)
			assert.Equal(t, "k-123", cfg.APIKey.Reveal())
			assert.Equal(t, tt.provider+"-"+tt.endpoint, cfg.Name)
			assert.NoError(t, cfg.Validate())

			_, err = providers.Match(tt.provider, tt.endpoint, env())
			assert.EqualError(t, err, "api_key: not set: set "+tt.keyEnv+" or api_key")
		})
	}
}

func TestAnthropicVersionHeader(t *testing.T) {
	cfg, err := providers.Match("anthropic", "messages", env("ANTHROPIC_API_KEY", "k"))
	require.NoError(t, err)
	assert.Equal(t, "2023-06-01", cfg.Headers["anthropic-version"])
	cfg, err = providers.Match("anthropic", "messages", env("ANTHROPIC_API_KEY", "k"), providers.WithAnthropicVersion("2026-10-21"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"Anthropic-Version": "2026-10-21"}, cfg.Headers, "one header, overridden case-insensitively")
}

func TestOllamaNeedsNoKeyAndReadsHost(t *testing.T) {
	cfg, err := providers.Match("ollama", "chat", env())
	require.NoError(t, err)
	assert.Equal(t, "http://localhost:11434/v1", cfg.BaseURL)
	assert.Equal(t, endpoint.AuthNone, cfg.Auth)
	assert.NoError(t, cfg.Validate())
	for host, want := range map[string]string{
		"127.0.0.1:11500":       "http://127.0.0.1:11500/v1",
		"http://127.0.0.1:9/":   "http://127.0.0.1:9/v1",
		"http://127.0.0.1:9/v1": "http://127.0.0.1:9/v1",
	} {
		cfg, err := providers.Match("ollama", "embeddings", env("OLLAMA_HOST", host))
		require.NoError(t, err)
		assert.Equal(t, want, cfg.BaseURL, host)
	}
}

func TestMatchErrorsListTheKnown(t *testing.T) {
	_, err := providers.Match("nope", "chat")
	assert.EqualError(t, err, `provider: unknown "nope" (known: anthropic, deepseek, exa, gemini, groq, mistral, ollama, openai, openrouter, perplexity, together)`)
	_, err = providers.Match("groq", "embeddings")
	assert.EqualError(t, err, `endpoint: provider "groq" has no endpoint "embeddings" (known: chat)`)
	_, err = providers.Match("exa", "search", env("EXA_API_KEY", "k"), providers.WithTransport("sdk"))
	assert.ErrorContains(t, err, `transport: provider "exa" supports http, not "sdk"`)
}

func TestMatchOverrides(t *testing.T) {
	cfg, err := providers.Match("openai", "chat", env("OPENAI_API_KEY", "from-env"),
		providers.WithName("mine"),
		providers.WithBaseURL("http://127.0.0.1:9000/v1"),
		providers.WithAPIKey(endpoint.NewSecret("given")),
		providers.WithHeaders(map[string]string{"X-Title": "khive"}),
		providers.WithDefaults(map[string]any{"temperature": 0}),
		providers.WithLimits(endpoint.Limits{MaxConcurrency: 3}),
		providers.WithTransport("sdk"),
	)
	require.NoError(t, err)
	assert.Equal(t, "mine", cfg.Name)
	assert.Equal(t, "http://127.0.0.1:9000/v1", cfg.BaseURL)
	assert.Equal(t, "given", cfg.APIKey.Reveal())
	assert.Equal(t, map[string]string{"X-Title": "khive"}, cfg.Headers)
	assert.Equal(t, map[string]any{"temperature": 0}, cfg.Defaults)
	assert.Equal(t, 3, cfg.Limits.MaxConcurrency)
	assert.Equal(t, "sdk", cfg.Transport)
	assert.Equal(t, "chat/completions", cfg.Path, "untouched fields keep the catalog's")
}

func TestLookupReturnsCopies(t *testing.T) {
	p, ok := providers.Lookup("anthropic")
	require.True(t, ok)
	p.Headers["anthropic-version"] = "tampered"
	again, _ := providers.Lookup("anthropic")
	assert.Equal(t, "2023-06-01", again.Headers["anthropic-version"])
	assert.True(t, func() bool { o, _ := providers.Lookup("groq"); return o.OpenAICompatible() }())
	assert.False(t, p.OpenAICompatible())
}

func TestCatalogIsData(t *testing.T) {
	for _, name := range providers.Names() {
		p, _ := providers.Lookup(name)
		assert.NotNil(t, p.Dialect, "%s has a dialect", name)
		assert.NotEmpty(t, p.Transports, "%s has transports", name)
		assert.Equal(t, p.Auth != "none", p.NeedsKey(), name)
		if p.NeedsKey() {
			assert.NotEmpty(t, p.KeyEnv, "%s names its key variable", name)
		}
		for _, ep := range p.EndpointNames() {
			cfg, _ := providers.Match(name, ep, providers.WithGetenv(func(string) string { return "k" }))
			assert.Equal(t, string(p.Endpoints[ep].Kind), cfg.Kind, "%s/%s carries its kind", name, ep)
		}
	}
	cfg, err := providers.Match("ollama", "chat", providers.WithGetenv(func(v string) string {
		if v == "OLLAMA_HOST" {
			return "gpu-box:11434"
		}
		return ""
	}))
	require.NoError(t, err, "ollama needs no key")
	assert.Equal(t, "http://gpu-box:11434/v1", cfg.BaseURL, "the base-URL variable: scheme and path filled from the catalog")
}
