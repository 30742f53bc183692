package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
)

// withResponses adds "up-responses", an OpenAI responses endpoint on the
// "up" upstream.
func withResponses(c *khive.Config, _ *gateway.Config) {
	ec := c.Endpoints["up"]
	ec.Endpoint = "responses"
	c.Endpoints["up-responses"] = ec
}

func TestResponsesAPIOnEveryKindOfEndpoint(t *testing.T) {
	e := newEnv(t, withResponses)
	for _, tt := range []struct {
		model, upstream, path string
	}{
		{"up-responses/gpt-4o", "up", "/v1/responses"},       // passed through
		{"up/gpt-4o", "up", "/v1/chat/completions"},          // translated for a chat endpoint
		{"claude/claude-sonnet-4-5", "anth", "/v1/messages"}, // and for Anthropic
	} {
		t.Run(tt.model, func(t *testing.T) {
			params := responses.ResponseNewParams{Model: tt.model,
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello there")}}
			resp, err := e.client().Responses.New(context.Background(), params)
			require.NoError(t, err)
			assert.Equal(t, "echo: hello there", resp.OutputText())
			assert.Equal(t, "completed", string(resp.Status))
			assert.Positive(t, resp.Usage.OutputTokens)
			assert.Equal(t, tt.path, e.ups[tt.upstream].Last().Path)

			s := e.client().Responses.NewStreaming(context.Background(), params)
			var text string
			var types []string
			var last int64 = -1
			for s.Next() {
				ev := s.Current()
				types = append(types, ev.Type)
				assert.Greater(t, ev.SequenceNumber, last, "sequence numbers rise")
				last = ev.SequenceNumber
				if ev.Type == "response.output_text.delta" {
					text += ev.Delta
				}
			}
			require.NoError(t, s.Err())
			assert.Equal(t, "echo: hello there", text)
			require.NotEmpty(t, types)
			assert.Equal(t, "response.created", types[0])
			assert.Equal(t, "response.completed", types[len(types)-1])
			assert.Contains(t, types, "response.output_item.added")
		})
	}
}

func TestResponsesFunctionToolOnChatAndAnthropicModels(t *testing.T) {
	e := newEnv(t)
	for _, model := range []string{"up/gpt-4o", "claude/claude-sonnet-4-5"} {
		t.Run(model, func(t *testing.T) {
			params := responses.ResponseNewParams{Model: model,
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("weather in Paris?")},
				Tools: []responses.ToolUnionParam{responses.ToolParamOfFunction("weather",
					map[string]any{"type": "object", "properties": map[string]any{"query": map[string]any{"type": "string"}}}, false)},
			}
			resp, err := e.client().Responses.New(context.Background(), params)
			require.NoError(t, err)
			require.Len(t, resp.Output, 1)
			call := resp.Output[0].AsFunctionCall()
			assert.Equal(t, "function_call", string(call.Type))
			assert.Equal(t, "weather", call.Name)
			assert.NotEmpty(t, call.CallID)
			assert.JSONEq(t, `{"query":"weather in Paris?"}`, call.Arguments)

			// The loop's next turn: the call and its output as input items.
			items := []map[string]any{
				{"type": "message", "role": "user", "content": "weather in Paris?"},
				{"type": "function_call", "call_id": call.CallID, "name": "weather", "arguments": call.Arguments},
				{"type": "function_call_output", "call_id": call.CallID, "output": "18C"},
			}
			b, _ := json.Marshal(map[string]any{"model": model, "input": items,
				"tools": []any{map[string]any{"type": "function", "name": "weather", "parameters": map[string]any{"type": "object"}}}})
			status, _, body := e.post("/v1/responses", string(b))
			require.Equal(t, http.StatusOK, status, body)
			assert.Contains(t, body, "tool said: 18C")

			// Streamed: the call opens as an output item, its arguments come
			// as function_call_arguments deltas.
			s := e.client().Responses.NewStreaming(context.Background(), params)
			var args, name string
			for s.Next() {
				ev := s.Current()
				switch ev.Type {
				case "response.output_item.added":
					name = ev.Item.Name
				case "response.function_call_arguments.delta":
					args += ev.Delta
				}
			}
			require.NoError(t, s.Err())
			assert.Equal(t, "weather", name)
			assert.JSONEq(t, `{"query":"weather in Paris?"}`, args)
		})
	}
}

func TestResponsesRefusesWhatNeedsState(t *testing.T) {
	e := newEnv(t)
	for field, body := range map[string]string{
		"previous_response_id": `{"model":"up/gpt-4o","input":"x","previous_response_id":"resp_1"}`,
		"store":                `{"model":"up/gpt-4o","input":"x","store":true}`,
		"tools[0].type":        `{"model":"up/gpt-4o","input":"x","tools":[{"type":"web_search"}]}`,
	} {
		status, _, out := e.post("/v1/responses", body)
		assert.Equal(t, http.StatusBadRequest, status, out)
		assert.Contains(t, out, `"param":"`+field+`"`)
	}
}
