package translate_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/providers/openai"
	"github.com/khive-go/khive/providers/translate"
)

// responsesToChat is ResponsesToChat with its default options, for
// assertTranslates.
func responsesToChat(req openai.ResponsesRequest) (openai.ChatRequest, error) {
	out, _, err := translate.ResponsesToChat(req, translate.Options{})
	return out, err
}

func TestResponsesToChatFieldByField(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"a string input, instructions and limits",
			`{"model":"m","input":"hi","instructions":"be brief","max_output_tokens":50,"temperature":0.2,"top_p":0.9,"user":"u1"}`,
			`{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"max_tokens":50,"temperature":0.2,"top_p":0.9,"user":"u1"}`},
		{"items: messages, a call and its output, developer as system, image parts",
			`{"model":"m","input":[
			  {"role":"developer","content":"rules"},
			  {"type":"message","role":"user","content":[{"type":"input_text","text":"look"},{"type":"input_image","image_url":"https://x/cat.png"}]},
			  {"type":"function_call","call_id":"c1","name":"f","arguments":"{\"a\":1}"},
			  {"type":"function_call","call_id":"c2","name":"g","arguments":"{}"},
			  {"type":"function_call_output","call_id":"c1","output":"one"},
			  {"type":"function_call_output","call_id":"c2","output":"two"}]}`,
			`{"model":"m","messages":[
			  {"role":"system","content":"rules"},
			  {"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"https://x/cat.png"}}]},
			  {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},{"id":"c2","type":"function","function":{"name":"g","arguments":"{}"}}]},
			  {"role":"tool","content":"one","tool_call_id":"c1"},
			  {"role":"tool","content":"two","tool_call_id":"c2"}]}`},
		{"function tools, tool_choice, parallel calls, a JSON schema format, streaming",
			`{"model":"m","input":"x","stream":true,"parallel_tool_calls":false,
			  "tools":[{"type":"function","name":"f","description":"d","parameters":{"type":"object"},"strict":true}],
			  "tool_choice":{"type":"function","name":"f"},
			  "text":{"format":{"type":"json_schema","name":"out","schema":{"type":"object"},"strict":true}}}`,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true},
			  "tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"},"strict":true}}],
			  "tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false,
			  "response_format":{"type":"json_schema","json_schema":{"name":"out","schema":{"type":"object"},"strict":true}}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assertTranslates(t, tt.in, responsesToChat, tt.want)
		})
	}
}

func TestResponsesToChatRefusals(t *testing.T) {
	for in, field := range map[string]string{
		`{"model":"m","input":"x","previous_response_id":"r"}`:                      "previous_response_id",
		`{"model":"m","input":"x","background":true}`:                               "background",
		`{"model":"m","input":"x","store":true}`:                                    "store",
		`{"model":"m","input":"x","tools":[{"type":"file_search"}]}`:                "tools[0].type",
		`{"model":"m","input":[{"type":"web_search_call","id":"r"}]}`:               "input[0].type",
		`{"model":"m","input":[{"role":"user","content":[{"type":"input_file"}]}]}`: "input[0].content[0].type",
		`{"model":"m","input":"x","text":{"format":{"type":"grammar"}}}`:            "text.format.type",
	} {
		var req openai.ResponsesRequest
		require.NoError(t, json.Unmarshal([]byte(in), &req))
		_, _, err := translate.ResponsesToChat(req, translate.Options{})
		var te *translate.Error
		require.ErrorAs(t, err, &te, in)
		assert.Equal(t, field, te.Field, in)
	}
}

func TestChatToResponse(t *testing.T) {
	var cr openai.ChatResponse
	require.NoError(t, json.Unmarshal([]byte(`{"id":"chatcmpl-9","model":"m","choices":[{"index":0,"finish_reason":"length",
		"message":{"role":"assistant","content":"partial","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}}],
		"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`), &cr))
	b, err := json.Marshal(translate.ChatToResponse(cr, 5, translate.Translation{}))
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"resp_9","object":"response","created_at":5,"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},
		"error":null,"instructions":null,"metadata":{},"temperature":null,"top_p":null,
		"model":"m","parallel_tool_calls":true,"tool_choice":"auto","tools":[],
		"output":[{"type":"message","id":"msg_resp_9","status":"completed","role":"assistant","content":[{"type":"output_text","text":"partial","annotations":[],"logprobs":[]}]},
		          {"type":"function_call","id":"fc_resp_9_0","status":"completed","call_id":"c1","name":"f","arguments":"{}"}],
		"usage":{"input_tokens":3,"input_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"output_tokens":4,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":7}}`, string(b))
}

// A translated response echoes what its request gave (instructions,
// temperature, top_p, tools, tool_choice, metadata), as the Responses API
// does: clients and the schema read them.
func TestTranslatedResponseEchoesItsRequest(t *testing.T) {
	var req openai.ResponsesRequest
	require.NoError(t, json.Unmarshal([]byte(`{"model":"m","input":"hi","instructions":"Be brief.","temperature":0.2,"top_p":0.9,
		"metadata":{"run":"7"},"tool_choice":"required","tools":[{"type":"function","name":"f","parameters":{"type":"object"}}]}`), &req))
	_, tr, err := translate.ResponsesToChat(req, translate.Options{})
	require.NoError(t, err)
	var cr openai.ChatResponse
	require.NoError(t, json.Unmarshal([]byte(`{"id":"chatcmpl-1","model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"ok"}}]}`), &cr))
	for _, r := range []openai.Response{translate.ChatToResponse(cr, 1, tr), streamed(t, tr)} {
		b, err := json.Marshal(r)
		require.NoError(t, err)
		var got map[string]any
		require.NoError(t, json.Unmarshal(b, &got))
		assert.Equal(t, "Be brief.", got["instructions"])
		assert.Equal(t, 0.2, got["temperature"])
		assert.Equal(t, 0.9, got["top_p"])
		assert.Equal(t, map[string]any{"run": "7"}, got["metadata"])
		assert.Equal(t, "required", got["tool_choice"])
		assert.Len(t, got["tools"], 1)
		assert.Nil(t, got["error"])
		assert.Contains(t, got, "error")
	}
}

// streamed is the response.completed event's response of a one-chunk
// translated stream.
func streamed(t *testing.T, tr translate.Translation) openai.Response {
	s := &translate.ResponsesFromChat{Created: 1, Tools: tr}
	evs := feed(s, `{"id":"chatcmpl-1","model":"m","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}`)
	var done struct {
		Response openai.Response `json:"response"`
	}
	require.NoError(t, json.Unmarshal([]byte(evs[len(evs)-1].Data), &done))
	return done.Response
}

// The events a translated Responses stream carries have every field the
// Responses API's schema requires, empty or not: the openai npm SDK's
// responses.stream() iterates a message item's content from
// output_item.added on, and the AI SDK's schema rejects a function item
// without arguments.
func TestResponsesStreamEventsCarryRequiredFields(t *testing.T) {
	tr := &translate.ResponsesFromChat{Created: 7}
	evs := feed(tr,
		`{"id":"chatcmpl-1","model":"m","choices":[{"index":0,"delta":{"content":"Hel"}}]}`,
		`{"id":"chatcmpl-1","model":"m","choices":[{"index":0,"delta":{"content":"lo"}}]}`,
		`{"id":"chatcmpl-1","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":""}}]}}]}`,
		`{"id":"chatcmpl-1","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}]}`,
		"[DONE]")
	byType := map[string][]map[string]any{}
	for _, ev := range evs {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &m), ev.Data)
		byType[ev.Event] = append(byType[ev.Event], m)
	}
	added := byType["response.output_item.added"]
	require.Len(t, added, 2)
	msg, fn := added[0]["item"].(map[string]any), added[1]["item"].(map[string]any)
	assert.Equal(t, "message", msg["type"])
	assert.Equal(t, []any{}, msg["content"], "a message item opens with content: []")
	assert.Equal(t, "function_call", fn["type"])
	assert.Contains(t, fn, "arguments")
	assert.Equal(t, "", fn["arguments"], "a function item opens with arguments: \"\"")
	for _, name := range []string{"response.output_text.delta", "response.output_text.done"} {
		require.NotEmpty(t, byType[name], name)
		assert.Equal(t, []any{}, byType[name][0]["logprobs"], name)
	}
	part := byType["response.content_part.added"][0]["part"].(map[string]any)
	assert.Equal(t, []any{}, part["logprobs"])
	assert.Equal(t, []any{}, part["annotations"])
	done := byType["response.function_call_arguments.done"]
	require.Len(t, done, 1)
	assert.Equal(t, "f", done[0]["name"])
	assert.Equal(t, `{"a":1}`, done[0]["arguments"])
}

// Codex sends namespace tools: their functions are flattened for chat
// (NAMESPACE__NAME: chat's names allow no dot) and come back in their
// namespace, on the way in (replayed calls) and out (calls and streams).
func TestResponsesNamespaceToolsAreFlattenedAndMappedBack(t *testing.T) {
	var req openai.ResponsesRequest
	require.NoError(t, json.Unmarshal([]byte(`{"model":"m","input":[
		{"type":"message","role":"user","content":[{"type":"input_text","text":"go"}]},
		{"type":"function_call","call_id":"c0","namespace":"multi_agent_v1","name":"spawn_agent","arguments":"{}"},
		{"type":"function_call_output","call_id":"c0","output":"spawned"}],
		"tools":[{"type":"function","name":"exec_command","parameters":{"type":"object"}},
		{"type":"namespace","name":"multi_agent_v1","description":"sub-agents","tools":[
			{"type":"function","name":"spawn_agent","description":"Spawn one","parameters":{"type":"object"},"strict":false},
			{"type":"function","name":"close_agent","parameters":{"type":"object"}}]},
		{"type":"web_search","external_web_access":false}]}`), &req))

	_, _, err := translate.ResponsesToChat(req, translate.Options{})
	var te *translate.Error
	require.ErrorAs(t, err, &te, "built-in tools are refused by default")
	assert.Equal(t, "tools[2].type", te.Field)
	assert.Contains(t, err.Error(), "web_search")

	chat, tools, err := translate.ResponsesToChat(req, translate.Options{DropBuiltinTools: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"web_search"}, tools.Dropped.Tools)
	b, err := json.Marshal(chat)
	require.NoError(t, err)
	var sent struct {
		Messages []struct {
			ToolCalls []struct {
				Function struct{ Name string } `json:"function"`
			} `json:"tool_calls"`
		} `json:"messages"`
		Tools []struct {
			Function struct {
				Name        string `json:"name"`
				Description string `json:"description"`
			} `json:"function"`
		} `json:"tools"`
	}
	require.NoError(t, json.Unmarshal(b, &sent))
	var names []string
	for _, tl := range sent.Tools {
		names = append(names, tl.Function.Name)
	}
	assert.Equal(t, []string{"exec_command", "multi_agent_v1__spawn_agent", "multi_agent_v1__close_agent"}, names)
	assert.Equal(t, "Spawn one", sent.Tools[1].Function.Description)
	require.Len(t, sent.Messages, 3)
	assert.Equal(t, "multi_agent_v1__spawn_agent", sent.Messages[1].ToolCalls[0].Function.Name, "a replayed call is flattened too")

	ns, name := tools.Split("multi_agent_v1__close_agent")
	assert.Equal(t, []string{"multi_agent_v1", "close_agent"}, []string{ns, name})
	ns, name = tools.Split("mcp__server__tool")
	assert.Equal(t, []string{"", "mcp__server__tool"}, []string{ns, name}, "a name that only looks flattened stays whole")

	var cr openai.ChatResponse
	require.NoError(t, json.Unmarshal([]byte(`{"id":"chatcmpl-9","model":"m","choices":[{"index":0,"finish_reason":"tool_calls",
		"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"multi_agent_v1__spawn_agent","arguments":"{\"x\":1}"}}]}}]}`), &cr))
	resp := translate.ChatToResponse(cr, 1, tools)
	require.Len(t, resp.Output, 1)
	assert.Equal(t, "spawn_agent", resp.Output[0].Name)
	assert.Equal(t, "multi_agent_v1", resp.Output[0].Namespace)

	tr := &translate.ResponsesFromChat{Created: 1, Tools: tools}
	evs := feed(tr, `{"id":"chatcmpl-9","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"multi_agent_v1__spawn_agent","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`)
	var doneItem map[string]any
	for _, ev := range evs {
		if ev.Event == "response.output_item.done" {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(ev.Data), &m))
			doneItem = m["item"].(map[string]any)
		}
	}
	require.NotNil(t, doneItem)
	assert.Equal(t, "spawn_agent", doneItem["name"])
	assert.Equal(t, "multi_agent_v1", doneItem["namespace"])
}
