package translate_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/openai"
	"github.com/khive-go/khive/providers/translate"
)

func TestChatToMessages(t *testing.T) {
	for _, tt := range []struct {
		name, chat, want string
	}{
		{"system prompts pulled into system",
			`{"model":"claude","messages":[{"role":"system","content":"be brief"},{"role":"developer","content":[{"type":"text","text":"no jokes"}]},{"role":"user","content":"hi"}]}`,
			`{"model":"claude","max_tokens":4096,"system":"be brief\n\nno jokes","messages":[{"role":"user","content":"hi"}]}`},
		{"multi-turn with consecutive roles merged",
			`{"model":"claude","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"assistant","content":"c"},{"role":"user","content":"d"}]}`,
			`{"model":"claude","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"assistant","content":"c"},{"role":"user","content":"d"}]}`},
		{"stop string", `{"model":"claude","stop":"END","messages":[{"role":"user","content":"x"}]}`,
			`{"model":"claude","max_tokens":4096,"stop_sequences":["END"],"messages":[{"role":"user","content":"x"}]}`},
		{"stop array", `{"model":"claude","stop":["a","b"],"messages":[{"role":"user","content":"x"}]}`,
			`{"model":"claude","max_tokens":4096,"stop_sequences":["a","b"],"messages":[{"role":"user","content":"x"}]}`},
		{"max_completion_tokens wins", `{"model":"claude","max_tokens":10,"max_completion_tokens":50,"messages":[{"role":"user","content":"x"}]}`,
			`{"model":"claude","max_tokens":50,"messages":[{"role":"user","content":"x"}]}`},
		{"max_tokens", `{"model":"claude","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`,
			`{"model":"claude","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`},
		{"empty content dropped", `{"model":"claude","messages":[{"role":"user","content":""},{"role":"user","content":"hi"},{"role":"assistant","content":null}]}`,
			`{"model":"claude","max_tokens":4096,"messages":[{"role":"user","content":"hi"}]}`},
		{"sampling only when set, stream kept, OpenAI-only fields dropped",
			`{"model":"claude","temperature":0.3,"top_p":0.9,"stream":true,"stream_options":{"include_usage":true},"seed":1,"user":"u1","messages":[{"role":"user","content":"x"}]}`,
			`{"model":"claude","max_tokens":4096,"temperature":0.3,"top_p":0.9,"stream":true,"metadata":{"user_id":"u1"},"messages":[{"role":"user","content":"x"}]}`},
		{"images", `{"model":"claude","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBOR"}},{"type":"image_url","image_url":{"url":"https://x.example/cat.jpg"}}]}]}`,
			`{"model":"claude","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}},{"type":"image","source":{"type":"url","url":"https://x.example/cat.jpg"}}]}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assertTranslates(t, tt.chat, func(r openai.ChatRequest) (anthropic.MessagesRequest, error) {
				out, _, err := translate.ChatToMessages(r, translate.Options{MaxTokens: 4096})
				return out, err
			}, tt.want)
		})
	}
}

func TestChatToMessagesRefusals(t *testing.T) {
	for _, tt := range []struct{ chat, field string }{
		{`{"model":"c","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}]}`, "messages[1].tool_calls[0].function.arguments"},
		{`{"model":"c","tools":[{"type":"web_search_preview"}],"messages":[{"role":"user","content":"x"}]}`, "tools[0].type"},
		{`{"model":"c","tools":[{"type":"function","function":{"description":"no name"}}],"messages":[{"role":"user","content":"x"}]}`, "tools[0].function.name"},
		{`{"model":"c","tool_choice":"sometimes","messages":[{"role":"user","content":"x"}]}`, "tool_choice"},
		{`{"model":"c","functions":[{"name":"f"}],"messages":[{"role":"user","content":"x"}]}`, "functions"},
		{`{"model":"c","messages":[{"role":"user","content":"x"},{"role":"tool","content":"r"}]}`, "messages[1].tool_call_id"},
		{`{"model":"c","messages":[{"role":"user","content":"x"},{"role":"function","content":"r","name":"f"}]}`, "messages[1].role"},
		{`{"model":"c","temperature":1.5,"messages":[{"role":"user","content":"x"}]}`, "temperature"},
		{`{"model":"c","n":2,"messages":[{"role":"user","content":"x"}]}`, "n"},
		{`{"model":"c","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, "messages[0].content[0].type"},
		{`{"model":"c","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x"}}]}]}`, "messages[0].content[0].image_url.url"},
		{`{"model":"c","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x"}}]},{"role":"user","content":"x"}]}`, "messages[0].content[0].type"},
		{`{"model":"c","messages":[{"role":"user","content":""}]}`, "messages"},
	} {
		var req openai.ChatRequest
		require.NoError(t, json.Unmarshal([]byte(tt.chat), &req))
		_, _, err := translate.ChatToMessages(req, translate.Options{MaxTokens: 100})
		var te *translate.Error
		require.True(t, errors.As(err, &te), "%s: %v", tt.chat, err)
		assert.Equal(t, tt.field, te.Field, tt.chat)
	}
}

func TestMessagesToChat(t *testing.T) {
	for _, tt := range []struct{ name, resp, want string }{
		{"text joined, end_turn", `{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"Hel"},{"type":"text","text":"lo"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":2}}`,
			`{"id":"msg_1","object":"chat.completion","created":7,"model":"claude","choices":[{"index":0,"logprobs":null,"message":{"role":"assistant","refusal":null,"content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`},
		{"stop_sequence", `{"id":"m","model":"c","content":[{"type":"text","text":"a"}],"stop_reason":"stop_sequence","stop_sequence":"END","usage":{"input_tokens":1,"output_tokens":1}}`,
			`{"id":"m","object":"chat.completion","created":7,"model":"c","choices":[{"index":0,"logprobs":null,"message":{"role":"assistant","refusal":null,"content":"a"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`},
		{"max_tokens", `{"id":"m","model":"c","content":[{"type":"text","text":"a"}],"stop_reason":"max_tokens","usage":{"input_tokens":1,"output_tokens":1}}`,
			`{"id":"m","object":"chat.completion","created":7,"model":"c","choices":[{"index":0,"logprobs":null,"message":{"role":"assistant","refusal":null,"content":"a"},"finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`},
		{"refusal with empty content", `{"id":"m","model":"c","content":[],"stop_reason":"refusal","usage":{"input_tokens":4,"output_tokens":0}}`,
			`{"id":"m","object":"chat.completion","created":7,"model":"c","choices":[{"index":0,"logprobs":null,"message":{"role":"assistant","refusal":null,"content":""},"finish_reason":"content_filter"}],"usage":{"prompt_tokens":4,"completion_tokens":0,"total_tokens":4}}`},
		{"tool_use", `{"id":"m","model":"c","content":[{"type":"tool_use","id":"t","name":"f","input":{}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":1}}`,
			`{"id":"m","object":"chat.completion","created":7,"model":"c","choices":[{"index":0,"logprobs":null,"message":{"role":"assistant","refusal":null,"content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`},
		{"text and two tool calls, in order", `{"id":"m","model":"c","content":[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Paris"}},{"type":"tool_use","id":"toolu_2","name":"time","input":{"tz":"CET"}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":1}}`,
			`{"id":"m","object":"chat.completion","created":7,"model":"c","choices":[{"index":0,"logprobs":null,"message":{"role":"assistant","refusal":null,"content":"Let me check.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"toolu_2","type":"function","function":{"name":"time","arguments":"{\"tz\":\"CET\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assertTranslates(t, tt.resp, infallible(func(r anthropic.MessagesResponse) openai.ChatResponse {
				return translate.MessagesToChat(r, 7)
			}), tt.want)
		})
	}
}

// messagesToChatRequest is MessagesToChatRequest with its default options,
// for assertTranslates.
func messagesToChatRequest(req anthropic.MessagesRequest) (openai.ChatRequest, error) {
	out, _, err := translate.MessagesToChatRequest(req, translate.Options{})
	return out, err
}

func TestMessagesToChatRequest(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"system string, multi-turn, stop, sampling", `{"model":"gpt","max_tokens":20,"system":"be brief","stop_sequences":["END"],"temperature":0.5,"top_k":5,
			"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"text","text":"hel"},{"type":"text","text":"lo"}]},{"role":"user","content":"again"}]}`,
			`{"model":"gpt","max_tokens":20,"temperature":0.5,"stop":["END"],"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"again"}]}`},
		{"system blocks joined with a blank line, stream asks for usage, user id", `{"model":"gpt","max_tokens":5,"stream":true,"system":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"metadata":{"user_id":"u"},"messages":[{"role":"user","content":"x"}]}`,
			`{"model":"gpt","max_tokens":5,"stream":true,"stream_options":{"include_usage":true},"user":"u","messages":[{"role":"system","content":"a\n\nb"},{"role":"user","content":"x"}]}`},
		{"a system turn mid-conversation (Claude Code's) stays a system message at its place", `{"model":"gpt","max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"system","content":[{"type":"text","text":"tools changed","cache_control":{"type":"ephemeral"}}]},{"role":"user","content":"y"}]}`,
			`{"model":"gpt","max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"system","content":"tools changed"},{"role":"user","content":"y"}]}`},
		{"images", `{"model":"gpt","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"see"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAA"}}]}]}`,
			`{"model":"gpt","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAA"}}]}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assertTranslates(t, tt.in, messagesToChatRequest, tt.want)
		})
	}
	var req anthropic.MessagesRequest
	require.NoError(t, json.Unmarshal([]byte(`{"model":"g","max_tokens":1,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"x"}]}`), &req))
	_, _, err := translate.MessagesToChatRequest(req, translate.Options{})
	var te *translate.Error
	require.ErrorAs(t, err, &te, "Anthropic's server tools cannot be carried")
	assert.Equal(t, "tools[0].type", te.Field)
}

func TestChatToMessagesResponse(t *testing.T) {
	for finish, stop := range map[string]string{"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"} {
		resp := openai.ChatResponse{ID: "c1", Model: "gpt", Choices: []openai.ChatChoice{{
			Message: openai.ChatMessage{Role: "assistant", Content: openai.TextContent("hi")}, FinishReason: finish}},
			Usage: &openai.ChatUsage{PromptTokens: 2, CompletionTokens: 1, TotalTokens: 3}}
		b, _ := json.Marshal(translate.ChatToMessagesResponse(resp))
		assert.JSONEq(t, `{"id":"c1","type":"message","role":"assistant","model":"gpt","content":[{"type":"text","text":"hi"}],
			"stop_reason":"`+stop+`","stop_sequence":null,"usage":{"input_tokens":2,"output_tokens":1}}`, string(b))
	}
}

func TestStreamTranslators(t *testing.T) {
	events := []string{
		`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"ping"}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":2}}`,
		`{"type":"message_stop"}`,
	}
	evs := feed(&translate.ChunksFromAnthropic{IncludeUsage: true, Created: 9}, events...)
	assert.Equal(t, translate.Event{Data: "[DONE]"}, evs[len(evs)-1])
	b, _ := json.Marshal(chunksOf(t, evs))
	assert.JSONEq(t, `[
		{"id":"msg_1","object":"chat.completion.chunk","created":9,"model":"claude","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]},
		{"id":"msg_1","object":"chat.completion.chunk","created":9,"model":"claude","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]},
		{"id":"msg_1","object":"chat.completion.chunk","created":9,"model":"claude","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]},
		{"id":"msg_1","object":"chat.completion.chunk","created":9,"model":"claude","choices":[{"index":0,"delta":{},"finish_reason":"length"}]},
		{"id":"msg_1","object":"chat.completion.chunk","created":9,"model":"claude","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}
	]`, string(b))

	// And back: those chunks become Anthropic events again.
	var datas []string
	for _, ev := range evs {
		datas = append(datas, ev.Data)
	}
	out := feed(&translate.EventsFromChat{}, datas...)
	var names []string
	for _, e := range out {
		names = append(names, e.Event)
	}
	assert.Equal(t, []string{"message_start", "content_block_start", "content_block_delta", "content_block_delta",
		"content_block_stop", "message_delta", "message_stop"}, names)
	assert.JSONEq(t, `{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":2}}`, string(out[5].Data))
	assert.JSONEq(t, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}`, string(out[3].Data))
}

func TestMessagesServerToolsRefusedOrDropped(t *testing.T) {
	var req anthropic.MessagesRequest
	require.NoError(t, json.Unmarshal([]byte(`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}],
		"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3},{"name":"f","input_schema":{"type":"object"}}]}`), &req))
	_, _, err := translate.MessagesToChatRequest(req, translate.Options{})
	var te *translate.Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "tools[0].type", te.Field)
	out, dropped, err := translate.MessagesToChatRequest(req, translate.Options{DropBuiltinTools: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"web_search_20250305"}, dropped.Tools)
	b, err := json.Marshal(out)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"name":"f"`)
	assert.NotContains(t, string(b), "web_search")
}
