package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	sdkoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
)

// Anthropic's thinking sent to a chat target is dropped by default (most
// chat models refuse reasoning_effort) with a Debug line naming it; with
// reasoning: map it becomes reasoning_effort, and the model's reasoning
// comes back as a thinking block the official SDK's accumulator reads.
func TestThinkingThroughAChatTarget(t *testing.T) {
	body := `{"model":"up/gpt-x","max_tokens":50,"thinking":{"type":"adaptive"},"output_config":{"effort":"medium"},
		"messages":[{"role":"user","content":"hi"}]}`
	e := newEnv(t)
	status, _, resp := e.post("/v1/messages", body, "anthropic-version", "2023-06-01")
	require.Equal(t, http.StatusOK, status, resp)
	assert.NotContains(t, e.ups["up"].Last().Body, "reasoning_effort")
	dropped := e.logs.FilterMessage("request fields the target cannot take were dropped").All()
	require.Len(t, dropped, 1)
	assert.Equal(t, []any{"thinking"}, dropped[0].ContextMap()["fields"])
	assert.NotContains(t, resp, "thinking")

	e = newEnv(t, func(_ *khive.Config, g *gateway.Config) { g.Reasoning = map[string]string{"up": "map"} })
	status, _, resp = e.post("/v1/messages", body, "anthropic-version", "2023-06-01")
	require.Equal(t, http.StatusOK, status, resp)
	assert.Equal(t, "medium", e.ups["up"].Last().Body["reasoning_effort"])
	var m sdk.Message
	require.NoError(t, json.Unmarshal([]byte(resp), &m))
	require.Len(t, m.Content, 2)
	assert.Equal(t, "thought at medium effort", m.Content[0].AsThinking().Thinking)

	client := sdk.NewClient(sdkoption.WithBaseURL(e.url("")), sdkoption.WithAPIKey(clientKey), sdkoption.WithMaxRetries(0))
	stream := client.Messages.NewStreaming(context.Background(), sdk.MessageNewParams{
		Model: "up/gpt-x", MaxTokens: 20000, Thinking: sdk.ThinkingConfigParamOfEnabled(20000),
		Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("hello"))},
	})
	var acc sdk.Message
	for stream.Next() {
		require.NoError(t, acc.Accumulate(stream.Current()))
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, "high", e.ups["up"].Last().Body["reasoning_effort"])
	require.Len(t, acc.Content, 2)
	assert.Equal(t, "thinking", acc.Content[0].Type)
	assert.Equal(t, "thought at high effort", acc.Content[0].AsThinking().Thinking)
	assert.Equal(t, "echo: hello", acc.Content[1].AsText().Text)

	// The thinking block sent back with the next turn is left out for chat.
	status, _, resp = e.post("/v1/messages", `{"model":"up/gpt-x","max_tokens":50,"messages":[{"role":"user","content":"hi"},
		{"role":"assistant","content":[{"type":"thinking","thinking":"thought at high effort","signature":""},{"type":"text","text":"echo: hi"}]},
		{"role":"user","content":"again"}]}`, "anthropic-version", "2023-06-01")
	require.Equal(t, http.StatusOK, status, resp)
	msgs := e.ups["up"].Last().Body["messages"].([]any)
	require.Len(t, msgs, 3)
	assert.Equal(t, "echo: hi", msgs[1].(map[string]any)["content"])
}

// A chat request's reasoning_effort becomes a thinking budget for an
// Anthropic target (mapped by default), and the thinking comes back as
// reasoning_content, plain and streamed.
func TestReasoningEffortToAnAnthropicTarget(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{Model: "claude/claude-x", ReasoningEffort: shared.ReasoningEffortHigh,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	resp, err := e.client().Chat.Completions.New(ctx, params)
	require.NoError(t, err)
	sent := e.ups["anth"].Last().Body
	assert.Equal(t, map[string]any{"type": "enabled", "budget_tokens": float64(24576)}, sent["thinking"])
	assert.Equal(t, float64(4096+24576), sent["max_tokens"])
	var said string
	require.NoError(t, json.Unmarshal([]byte(resp.Choices[0].Message.JSON.ExtraFields["reasoning_content"].Raw()), &said))
	assert.Equal(t, "thought within 24576 tokens", said)
	assert.Equal(t, "echo: hi", resp.Choices[0].Message.Content)

	stream := e.client().Chat.Completions.NewStreaming(ctx, params)
	var reasoning, text string
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			if f, ok := ch.Delta.JSON.ExtraFields["reasoning_content"]; ok {
				var s string
				require.NoError(t, json.Unmarshal([]byte(f.Raw()), &s))
				reasoning += s
			}
			text += ch.Delta.Content
		}
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, "thought within 24576 tokens", reasoning)
	assert.Equal(t, "echo: hi", text)
}

// Codex's reasoning.effort reaches an Anthropic target as thinking; the
// thinking comes back as a reasoning item (its text the summary), and
// that item sent back in the next request is left out.
func TestResponsesReasoningToAnAnthropicTarget(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r, err := e.client().Responses.New(ctx, responses.ResponseNewParams{Model: "claude/claude-x",
		Reasoning: shared.ReasoningParam{Effort: shared.ReasoningEffortLow, Summary: shared.ReasoningSummaryAuto},
		Input:     responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"type": "enabled", "budget_tokens": float64(2048)}, e.ups["anth"].Last().Body["thinking"])
	require.Len(t, r.Output, 2)
	assert.Equal(t, "reasoning", r.Output[0].Type)
	require.Len(t, r.Output[0].Summary, 1)
	assert.Equal(t, "thought within 2048 tokens", r.Output[0].Summary[0].Text)
	assert.Equal(t, "echo: hi", r.OutputText())

	replay, err := json.Marshal(map[string]any{"model": "claude/claude-x", "input": []any{
		map[string]any{"role": "user", "content": "hi"}, json.RawMessage(r.Output[0].RawJSON()), json.RawMessage(r.Output[1].RawJSON()),
		map[string]any{"role": "user", "content": "again"}}})
	require.NoError(t, err)
	status, _, body := e.post("/v1/responses", string(replay))
	require.Equal(t, http.StatusOK, status, string(replay), body)
	msgs := e.ups["anth"].Last().Body["messages"].([]any)
	require.Len(t, msgs, 3, "the reasoning item left out")
	assert.Equal(t, "echo: hi", msgs[1].(map[string]any)["content"])
}
