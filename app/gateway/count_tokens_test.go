package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCountTokens(t *testing.T) {
	e := newEnv(t)
	const body = `{"model":%q,"system":"be brief","messages":[{"role":"user","content":"how many tokens is this?"}]}`

	t.Run("passed through to an Anthropic endpoint", func(t *testing.T) {
		status, h, out := e.post("/v1/messages/count_tokens", fmt.Sprintf(body, "smart"), "anthropic-version", "2023-06-01")
		require.Equal(t, http.StatusOK, status, out)
		assert.Equal(t, "claude", h.Get("X-Khive-Endpoint"))
		assert.Empty(t, h.Get("X-Khive-Estimate"))
		assert.Equal(t, "/v1/messages/count_tokens", e.ups["anth"].Last().Path)
		assert.Equal(t, "claude-sonnet-4-5", e.ups["anth"].Last().Body["model"], "the target's model")
		var n struct {
			InputTokens int `json:"input_tokens"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &n))
		assert.Positive(t, n.InputTokens)
	})
	t.Run("estimated for an OpenAI-compatible target", func(t *testing.T) {
		sent := e.ups["up"].Requests()
		status, h, out := e.post("/v1/messages/count_tokens", fmt.Sprintf(body, "up/m"))
		require.Equal(t, http.StatusOK, status, out)
		assert.Equal(t, "true", h.Get("X-Khive-Estimate"))
		// system "be brief" (10 bytes as JSON) + messages (54): 64 / 4.
		assert.JSONEq(t, `{"input_tokens":16}`, out)
		assert.Equal(t, sent, e.ups["up"].Requests(), "nothing sent upstream")
	})
	t.Run("bad requests and other paths answer in Anthropic's format", func(t *testing.T) {
		status, _, out := e.post("/v1/messages/count_tokens", `{"messages":[]}`)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.JSONEq(t, `{"type":"error","error":{"type":"invalid_request_error","message":"model: Field required"}}`, out)
		status, h, out := e.post("/v1/messages/batches", `{}`)
		assert.Equal(t, http.StatusNotFound, status)
		assert.Equal(t, "application/json", h.Get("Content-Type"))
		assert.JSONEq(t, `{"type":"error","error":{"type":"not_found_error","message":"Not found: /v1/messages/batches"}}`, out)
	})
}
