package gateway_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/app/gateway/admission"
)

const teamKey = "team-a-secret-key"

func withKeys(keys ...admission.ClientKey) option_ {
	return func(_ *khive.Config, g *gateway.Config) { g.Keys = keys }
}

func TestClientKeyEntriesLimitModels(t *testing.T) {
	sum := sha256.Sum256([]byte(teamKey))
	e := newEnv(t, withKeys(
		admission.ClientKey{SHA256: hex.EncodeToString(sum[:]), Name: "team-a", Models: []string{"fast", "up/*"}},
		admission.ClientKey{Key: clientKey}))
	chat := func(key, model string) (int, string) {
		status, _, body := e.post("/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`,
			"Authorization", "Bearer "+key)
		return status, body
	}

	status, body := chat(teamKey, "fast")
	assert.Equal(t, http.StatusOK, status, "a hashed key authorizes: %s", body)
	status, body = chat(teamKey, "up/gpt-4.1")
	assert.Equal(t, http.StatusOK, status, "ENDPOINT/* allows the endpoint's models: %s", body)
	status, body = chat(teamKey, "emb")
	assert.Equal(t, http.StatusForbidden, status)
	assert.Contains(t, body, `"code":"model_not_allowed"`)
	assert.Contains(t, body, `key team-a may not use model \"emb\"`)
	status, body = chat(teamKey, "other/llama")
	assert.Equal(t, http.StatusForbidden, status, body)

	// The Anthropic route answers in its own format.
	status, _, body = e.post("/v1/messages", `{"model":"smart","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
		"Authorization", "", "X-Api-Key", teamKey)
	assert.Equal(t, http.StatusForbidden, status)
	assert.Contains(t, body, `"type":"permission_error"`)

	// A bare key has no model list.
	status, body = chat(clientKey, "other/llama")
	assert.Equal(t, http.StatusOK, status, body)
	status, body = chat("not-a-key", "fast")
	assert.Equal(t, http.StatusUnauthorized, status, body)

	_, metrics := e.get("/metrics")
	assert.Contains(t, metrics, `khive_gateway_key_requests_total{key="team-a",model="fast",status="200"} 1`)
	assert.Contains(t, metrics, `khive_gateway_key_requests_total{key="team-a",model="emb",status="403"} 1`)
	assert.Contains(t, metrics, `khive_gateway_key_requests_total{key="key-2",model="other",status="200"} 1`)
	assert.NotContains(t, metrics, teamKey)
	assert.NotContains(t, metrics, hex.EncodeToString(sum[:]))
	for _, entry := range e.logs.All() {
		for _, f := range entry.Context {
			assert.NotContains(t, f.String, teamKey)
		}
	}
}

func TestClientKeyRequestRateAnswers429(t *testing.T) {
	e := newEnv(t, withKeys(admission.ClientKey{Key: teamKey, Name: "slow", RequestsPerMinute: 60}))
	body := `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`
	status, _, resp := e.post("/v1/chat/completions", body, "Authorization", "Bearer "+teamKey)
	require.Equal(t, http.StatusOK, status, resp)
	status, h, resp := e.post("/v1/chat/completions", body, "Authorization", "Bearer "+teamKey)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Contains(t, resp, `"code":"key_rate_limit"`)
	assert.Equal(t, "1", h.Get("Retry-After"), "one request a second: the next is due within a second")
	assert.Equal(t, int64(1), e.ups["up"].Requests(), "the refused request never reached the upstream")
	// The Anthropic route refuses in its format too.
	status, _, resp = e.post("/v1/messages", `{"model":"smart","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
		"Authorization", "", "X-Api-Key", teamKey)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.True(t, strings.Contains(resp, `"type":"rate_limit_error"`), resp)
}

func TestClientKeySlotFreedWhenTheBodyIsRefused(t *testing.T) {
	e := newEnv(t, withKeys(admission.ClientKey{Key: teamKey, MaxConcurrency: 1, RequestsPerMinute: 60}), // burst 1
		func(_ *khive.Config, g *gateway.Config) { g.MaxBodyBytes = 64 })
	big := `{"model":"fast","messages":[{"role":"user","content":"` + strings.Repeat("x", 100) + `"}]}`
	for range 3 {
		status, _, body := e.post("/v1/chat/completions", big, "Authorization", "Bearer "+teamKey)
		require.Equal(t, http.StatusRequestEntityTooLarge, status, body)
	}
	status, _, body := e.post("/v1/chat/completions", `{"model":"fast","messages":[]}`, "Authorization", "Bearer "+teamKey)
	assert.NotEqual(t, http.StatusTooManyRequests, status, "a refused request gave its concurrency slot back and spent no rate: %s", body)
}

func TestClientKeyTokensCountedAndLimited(t *testing.T) {
	e := newEnv(t, withKeys(admission.ClientKey{Key: teamKey, Name: "team", TokensPerMinute: 60}))
	ask := func(body string) (int, string) {
		status, _, resp := e.post("/v1/chat/completions", body, "Authorization", "Bearer "+teamKey)
		return status, resp
	}
	status, resp := ask(`{"model":"fast","messages":[{"role":"user","content":"hello there"}]}`)
	require.Equal(t, http.StatusOK, status, resp)
	_, metrics := e.get("/metrics")
	in1, out1 := keyTokens(t, metrics, "input"), keyTokens(t, metrics, "output")
	assert.Positive(t, in1, "input tokens from the answer's usage")
	assert.Positive(t, out1)
	status, resp = ask(`{"model":"fast","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello again"}]}`)
	require.Equal(t, http.StatusOK, status, resp)

	_, metrics = e.get("/metrics")
	assert.Greater(t, keyTokens(t, metrics, "input"), in1, "and from the stream's usage chunk")
	assert.Greater(t, keyTokens(t, metrics, "output"), out1)

	// A body of ~300 tokens is over what is left of the 60-token minute.
	status, resp = ask(`{"model":"fast","messages":[{"role":"user","content":"` + strings.Repeat("word ", 240) + `"}]}`)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Contains(t, resp, "tokens_per_minute")
}

// keyTokens reads khive_gateway_key_tokens_total for key "team", model "fast".
func keyTokens(t *testing.T, metrics, direction string) float64 {
	t.Helper()
	return metricValue(t, metrics, `khive_gateway_key_tokens_total{direction="`+direction+`",key="team",model="fast"}`)
}
