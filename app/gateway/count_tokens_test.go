package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
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

// What anthropic-sdk-go reads of the gateway's Anthropic-shaped answers:
// the model list and one model, and count_tokens, each passed or estimated.
func TestAnthropicSDKReadsModelsAndCountTokens(t *testing.T) {
	e := newEnv(t)
	client := sdk.NewClient(option.WithBaseURL("http://"+e.srv.Addr()), option.WithAPIKey(clientKey), option.WithMaxRetries(0))
	ctx := context.Background()

	page, err := client.Models.List(ctx, sdk.ModelListParams{})
	require.NoError(t, err)
	require.NotEmpty(t, page.Data)
	var smart *sdk.ModelInfo
	for i, m := range page.Data {
		assert.True(t, m.JSON.ID.Valid() && m.JSON.DisplayName.Valid() && m.JSON.CreatedAt.Valid() && m.JSON.Type.Valid(), "%s", m.ID)
		if m.ID == "smart" {
			smart = &page.Data[i]
		}
	}
	require.NotNil(t, smart)
	assert.Equal(t, "smart", smart.DisplayName)
	assert.False(t, smart.CreatedAt.IsZero())
	assert.True(t, page.JSON.HasMore.Valid() && page.JSON.FirstID.Valid() && page.JSON.LastID.Valid())
	one, err := client.Models.Get(ctx, "smart", sdk.ModelGetParams{})
	require.NoError(t, err)
	assert.Equal(t, "smart", one.ID)
	_, err = client.Models.Get(ctx, "nope", sdk.ModelGetParams{})
	var apiErr *sdk.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusNotFound, apiErr.StatusCode)

	for _, model := range []string{"smart", "up/m"} { // passed through to Anthropic, estimated for chat
		n, err := client.Messages.CountTokens(ctx, sdk.MessageCountTokensParams{
			Model:    sdk.Model(model),
			Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("how many tokens is this?"))},
		})
		require.NoError(t, err, model)
		assert.Positive(t, n.InputTokens, model)
		assert.True(t, n.JSON.InputTokens.Valid(), model)
	}
}
