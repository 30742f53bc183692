package translate_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/openai"
	"github.com/khive-go/khive/providers/translate"
)

func TestToolsToAnthropicFieldByField(t *testing.T) {
	for _, tt := range []struct{ name, chat, want string }{
		{"tools and tool_choice auto",
			`{"model":"c","messages":[{"role":"user","content":"x"}],"tool_choice":"auto",
			  "tools":[{"type":"function","function":{"name":"weather","description":"Weather now","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
			           {"type":"function","function":{"name":"ping"}}]}`,
			`{"model":"c","max_tokens":100,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"auto"},
			  "tools":[{"name":"weather","description":"Weather now","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},
			           {"name":"ping","input_schema":{"type":"object","properties":{}}}]}`},
		{"tool_choice none", `{"model":"c","messages":[{"role":"user","content":"x"}],"tool_choice":"none"}`,
			`{"model":"c","max_tokens":100,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"none"}}`},
		{"tool_choice required", `{"model":"c","messages":[{"role":"user","content":"x"}],"tool_choice":"required"}`,
			`{"model":"c","max_tokens":100,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"any"}}`},
		{"a named function, no parallel calls",
			`{"model":"c","messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"function","function":{"name":"weather"}},"parallel_tool_calls":false}`,
			`{"model":"c","max_tokens":100,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"tool","name":"weather","disable_parallel_tool_use":true}}`},
		{"no parallel calls alone", `{"model":"c","messages":[{"role":"user","content":"x"}],"parallel_tool_calls":false}`,
			`{"model":"c","max_tokens":100,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}`},
		{"a whole tool loop: calls with ids kept, results merged into one user turn",
			`{"model":"c","messages":[
			  {"role":"system","content":"be brief"},
			  {"role":"user","content":"weather and time in Paris?"},
			  {"role":"assistant","content":"Checking.","tool_calls":[
			    {"id":"call_A","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},
			    {"id":"call_B","type":"function","function":{"name":"time","arguments":""}}]},
			  {"role":"tool","tool_call_id":"call_A","content":"18C"},
			  {"role":"tool","tool_call_id":"call_B","content":[{"type":"text","text":"14:00"}]},
			  {"role":"user","content":"thanks"}]}`,
			`{"model":"c","max_tokens":100,"system":"be brief","messages":[
			  {"role":"user","content":"weather and time in Paris?"},
			  {"role":"assistant","content":[{"type":"text","text":"Checking."},
			    {"type":"tool_use","id":"call_A","name":"weather","input":{"city":"Paris"}},
			    {"type":"tool_use","id":"call_B","name":"time","input":{}}]},
			  {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_A","content":"18C"},
			    {"type":"tool_result","tool_use_id":"call_B","content":"14:00"},
			    {"type":"text","text":"thanks"}]}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assertTranslates(t, tt.chat, func(r openai.ChatRequest) (anthropic.MessagesRequest, error) {
				out, _, err := translate.ChatToMessages(r, translate.Options{MaxTokens: 100})
				return out, err
			}, tt.want)
		})
	}
}

// An Anthropic stream with text, then two tool calls whose arguments come
// in fragments, becomes OpenAI chunks: the text as content, each call's id
// and name on its first chunk, its arguments after, indexes 0 and 1.
func TestAnthropicToolStreamBecomesToolCallChunks(t *testing.T) {
	events := []string{
		`{"type":"message_start","message":{"id":"msg","model":"c","usage":{"input_tokens":5,"output_tokens":0}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_A","name":"weather","input":{}}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}`,
		`{"type":"content_block_stop","index":1}`,
		`{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_B","name":"time","input":{}}}`,
		`{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}`,
		`{"type":"content_block_stop","index":2}`,
		`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}`,
		`{"type":"message_stop"}`,
	}
	chunks := chunksOf(t, feed(&translate.ChunksFromAnthropic{}, events...))
	var text string
	args := map[int]string{}
	ids, names := map[int]string{}, map[int]string{}
	var finish string
	{
		for _, c := range chunks {
			for _, ch := range c.Choices {
				text += ch.Delta.Content
				for _, tc := range ch.Delta.ToolCalls {
					require.NotNil(t, tc.Index)
					if tc.ID != "" {
						ids[*tc.Index], names[*tc.Index] = tc.ID, tc.Function.Name
						assert.Equal(t, "function", tc.Type)
					}
					args[*tc.Index] += tc.Function.Arguments
				}
				if ch.FinishReason != nil {
					finish = *ch.FinishReason
				}
			}
		}
	}
	assert.Equal(t, "Checking.", text)
	assert.Equal(t, map[int]string{0: "toolu_A", 1: "toolu_B"}, ids)
	assert.Equal(t, map[int]string{0: "weather", 1: "time"}, names)
	assert.Equal(t, map[int]string{0: `{"city":"Paris"}`, 1: `{}`}, args)
	assert.Equal(t, "tool_calls", finish)
}

func TestToolsToChatFieldByField(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"tools, a named tool, no parallel use",
			`{"model":"g","max_tokens":9,"messages":[{"role":"user","content":"x"}],
			  "tools":[{"name":"weather","description":"Weather now","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},{"name":"ping"}],
			  "tool_choice":{"type":"tool","name":"weather","disable_parallel_tool_use":true}}`,
			`{"model":"g","max_tokens":9,"messages":[{"role":"user","content":"x"}],
			  "tools":[{"type":"function","function":{"name":"weather","description":"Weather now","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},{"type":"function","function":{"name":"ping"}}],
			  "tool_choice":{"type":"function","function":{"name":"weather"}},"parallel_tool_calls":false}`},
		{"any is required", `{"model":"g","max_tokens":9,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"any"}}`,
			`{"model":"g","max_tokens":9,"messages":[{"role":"user","content":"x"}],"tool_choice":"required"}`},
		{"a whole tool loop: tool_use becomes tool_calls, tool_result tool messages ahead of the text",
			`{"model":"g","max_tokens":9,"messages":[
			  {"role":"user","content":"weather in Paris?"},
			  {"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Paris"}}]},
			  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"18C"},{"type":"text","text":"and tomorrow?"}]},
			  {"role":"assistant","content":[{"type":"tool_use","id":"toolu_2","name":"weather","input":{"city":"Paris","day":1}}]},
			  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_2","is_error":true,"content":[{"type":"text","text":"no forecast"}]}]}]}`,
			`{"model":"g","max_tokens":9,"messages":[
			  {"role":"user","content":"weather in Paris?"},
			  {"role":"assistant","content":"Checking.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}]},
			  {"role":"tool","content":"18C","tool_call_id":"toolu_1"},
			  {"role":"user","content":"and tomorrow?"},
			  {"role":"assistant","content":null,"tool_calls":[{"id":"toolu_2","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\",\"day\":1}"}}]},
			  {"role":"tool","content":"[error] no forecast","tool_call_id":"toolu_2"}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assertTranslates(t, tt.in, messagesToChatRequest, tt.want)
		})
	}
}

func TestChatToolCallsBecomeToolUseBlocks(t *testing.T) {
	var resp openai.ChatResponse
	require.NoError(t, json.Unmarshal([]byte(`{"id":"c","model":"g","choices":[{"index":0,"finish_reason":"tool_calls",
		"message":{"role":"assistant","content":null,"tool_calls":[
		  {"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},
		  {"id":"call_2","type":"function","function":{"name":"time","arguments":"{}"}}]}}],
		"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`), &resp))
	b, err := json.Marshal(translate.ChatToMessagesResponse(resp))
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"c","type":"message","role":"assistant","model":"g","stop_reason":"tool_use","stop_sequence":null,
		"content":[{"type":"tool_use","id":"call_1","name":"weather","input":{"city":"Paris"}},{"type":"tool_use","id":"call_2","name":"time","input":{}}],
		"usage":{"input_tokens":3,"output_tokens":4}}`, string(b))
}

// OpenAI chunks with text and two tool calls (arguments in fragments)
// become Anthropic events: a text block, then a tool_use block per call,
// each closed before the next opens, indexes 0, 1, 2.
func TestChatToolStreamBecomesToolUseEvents(t *testing.T) {
	chunks := []string{
		`{"id":"c","model":"g","choices":[{"index":0,"delta":{"role":"assistant","content":"Checking."}}]}`,
		`{"id":"c","model":"g","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"weather","arguments":""}}]}}]}`,
		`{"id":"c","model":"g","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}`,
		`{"id":"c","model":"g","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}}]}`,
		`{"id":"c","model":"g","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"time","arguments":"{}"}}]}}]}`,
		`{"id":"c","model":"g","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
	}
	var names []string
	var starts []map[string]any
	partial := map[float64]string{}
	add := func(evs []translate.Event) {
		for _, ev := range evs {
			names = append(names, ev.Event)
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(ev.Data), &m))
			switch ev.Event {
			case "content_block_start":
				starts = append(starts, m)
			case "content_block_delta":
				if d := m["delta"].(map[string]any); d["type"] == "input_json_delta" {
					partial[m["index"].(float64)] += d["partial_json"].(string)
				}
			case "message_delta":
				assert.Equal(t, "tool_use", m["delta"].(map[string]any)["stop_reason"])
			}
		}
	}
	add(feed(&translate.EventsFromChat{}, chunks...))
	assert.Equal(t, []string{"message_start",
		"content_block_start", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_stop",
		"message_delta", "message_stop"}, names)
	require.Len(t, starts, 3)
	for i, s := range starts {
		assert.Equal(t, float64(i), s["index"])
	}
	assert.Equal(t, "tool_use", starts[1]["content_block"].(map[string]any)["type"])
	assert.Equal(t, "call_1", starts[1]["content_block"].(map[string]any)["id"])
	assert.Equal(t, "time", starts[2]["content_block"].(map[string]any)["name"])
	assert.Equal(t, map[float64]string{1: `{"city":"Paris"}`, 2: `{}`}, partial)
}
