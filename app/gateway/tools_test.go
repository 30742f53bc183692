package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var weatherTool = openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
	Name:        "weather",
	Description: openai.String("The weather now"),
	Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{
		"query": map[string]any{"type": "string"}}, "required": []string{"query"}},
})

// An OpenAI-SDK agent drives a whole tool loop through the gateway against
// a model served by Anthropic: the call comes back as tool_calls, the
// result goes back as a tool message, the final answer uses it.
func TestToolLoopThroughAnAnthropicModel(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:    "claude/claude-sonnet-4-5",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")},
		Tools:    []openai.ChatCompletionToolUnionParam{weatherTool},
	}
	first, err := e.client().Chat.Completions.New(ctx, params)
	require.NoError(t, err)
	require.Len(t, first.Choices, 1)
	assert.Equal(t, "tool_calls", first.Choices[0].FinishReason)
	calls := first.Choices[0].Message.ToolCalls
	require.Len(t, calls, 1)
	assert.Equal(t, "toolu_fake_1", calls[0].ID, "the id comes through unchanged")
	assert.Equal(t, "weather", calls[0].Function.Name)
	assert.JSONEq(t, `{"query":"weather in Paris?"}`, calls[0].Function.Arguments)

	// What reached Anthropic: the tool in its own form.
	sent := e.ups["anth"].Last().Body
	tools, _ := sent["tools"].([]any)
	require.Len(t, tools, 1)
	assert.Equal(t, "weather", tools[0].(map[string]any)["name"])
	assert.Contains(t, tools[0].(map[string]any), "input_schema")

	params.Messages = append(params.Messages, first.Choices[0].Message.ToParam(),
		openai.ToolMessage("18C and sunny", calls[0].ID))
	final, err := e.client().Chat.Completions.New(ctx, params)
	require.NoError(t, err)
	assert.Equal(t, "stop", final.Choices[0].FinishReason)
	assert.Equal(t, "tool said: 18C and sunny", final.Choices[0].Message.Content)
	msgs, _ := e.ups["anth"].Last().Body["messages"].([]any)
	require.Len(t, msgs, 3, "user, assistant with tool_use, user with tool_result")
	result := msgs[2].(map[string]any)["content"].([]any)[0].(map[string]any)
	assert.Equal(t, "tool_result", result["type"])
	assert.Equal(t, "toolu_fake_1", result["tool_use_id"])
}

func TestToolCallStreamedFromAnAnthropicModel(t *testing.T) {
	e := newEnv(t)
	s := e.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    "claude/claude-sonnet-4-5",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")},
		Tools:    []openai.ChatCompletionToolUnionParam{weatherTool},
	})
	acc := openai.ChatCompletionAccumulator{}
	var finished []openai.FinishedChatCompletionToolCall
	for s.Next() {
		acc.AddChunk(s.Current())
		if tc, ok := acc.JustFinishedToolCall(); ok {
			finished = append(finished, tc)
		}
	}
	require.NoError(t, s.Err())
	require.Len(t, acc.Choices, 1)
	assert.Equal(t, "tool_calls", acc.Choices[0].FinishReason)
	require.Len(t, acc.Choices[0].Message.ToolCalls, 1)
	tc := acc.Choices[0].Message.ToolCalls[0]
	assert.Equal(t, "toolu_fake_1", tc.ID)
	assert.Equal(t, "weather", tc.Function.Name)
	assert.JSONEq(t, `{"query":"weather in Paris?"}`, tc.Function.Arguments, "fragments joined in order")
	require.Len(t, finished, 1)
}

// An Anthropic-format client with tools, served by an OpenAI-compatible
// endpoint: tool_use back, plain and streamed.
func TestMessagesWithToolsOnAnOpenAIModel(t *testing.T) {
	e := newEnv(t)
	body := `{"model":"up/gpt-4o","max_tokens":64,"tools":[{"name":"weather","description":"The weather now","input_schema":{"type":"object","properties":{"query":{"type":"string"}}}}],
		"tool_choice":{"type":"auto"},"messages":[{"role":"user","content":"weather in Paris?"}]}`
	status, _, out := e.messages(body)
	require.Equal(t, http.StatusOK, status, out)
	var resp struct {
		StopReason string `json:"stop_reason"`
		Content    []struct {
			Type, ID, Name string
			Input          json.RawMessage
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &resp))
	assert.Equal(t, "tool_use", resp.StopReason)
	require.Len(t, resp.Content, 1)
	assert.Equal(t, "tool_use", resp.Content[0].Type)
	assert.Equal(t, "call_fake_1", resp.Content[0].ID)
	assert.Equal(t, "weather", resp.Content[0].Name)
	assert.JSONEq(t, `{"query":"weather in Paris?"}`, string(resp.Content[0].Input))
	sent := e.ups["up"].Last().Body
	assert.Equal(t, "auto", sent["tool_choice"])
	assert.Equal(t, "function", sent["tools"].([]any)[0].(map[string]any)["type"])

	// The loop's second turn: the tool_result goes back as a tool message.
	loop := `{"model":"up/gpt-4o","max_tokens":64,"tools":[{"name":"weather","input_schema":{"type":"object"}}],"messages":[
		{"role":"user","content":"weather in Paris?"},
		{"role":"assistant","content":[{"type":"tool_use","id":"call_fake_1","name":"weather","input":{"query":"weather in Paris?"}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_fake_1","content":"18C"}]}]}`
	status, _, out = e.messages(loop)
	require.Equal(t, http.StatusOK, status, out)
	assert.Contains(t, out, "tool said: 18C")

	stream := strings.Replace(body, `"max_tokens":64,`, `"max_tokens":64,"stream":true,`, 1)
	evs := e.sse(t, "/v1/messages", stream)
	var starts, partial []string
	for _, ev := range evs {
		switch ev.name {
		case "content_block_start":
			starts = append(starts, ev.data)
		case "content_block_delta":
			var d struct {
				Delta struct {
					Type        string `json:"type"`
					PartialJSON string `json:"partial_json"`
				} `json:"delta"`
			}
			require.NoError(t, json.Unmarshal([]byte(ev.data), &d))
			if d.Delta.Type == "input_json_delta" {
				partial = append(partial, d.Delta.PartialJSON)
			}
		}
	}
	require.Len(t, starts, 1)
	assert.Contains(t, starts[0], `"type":"tool_use"`)
	assert.Contains(t, starts[0], `"id":"call_fake_1"`)
	assert.JSONEq(t, `{"query":"weather in Paris?"}`, strings.Join(partial, ""))
	assert.Contains(t, eventNames(evs), "message_stop")
}
