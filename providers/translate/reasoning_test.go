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

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(s), &v), s)
	return v
}

func encode(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// reasoning_effort becomes a thinking budget: on top of the default
// max_tokens without a bound, within the bound with one (leaving 1024 for
// the answer); none and minimal think not; what cannot think is dropped
// and named.
func TestReasoningEffortBecomesThinking(t *testing.T) {
	for _, tt := range []struct {
		name, req   string
		opts        translate.Options
		thinking    any // the thinking field sent, nil for none
		maxTokens   float64
		droppedWhat []string
	}{
		{"medium, no bound", `{"reasoning_effort":"medium"}`, translate.Options{MaxTokens: 4096},
			map[string]any{"type": "enabled", "budget_tokens": float64(8192)}, 4096 + 8192, nil},
		{"high within a bound", `{"reasoning_effort":"high","max_completion_tokens":10000}`, translate.Options{MaxTokens: 4096},
			map[string]any{"type": "enabled", "budget_tokens": float64(10000 - 1024)}, 10000, nil},
		{"low", `{"reasoning_effort":"low"}`, translate.Options{MaxTokens: 100},
			map[string]any{"type": "enabled", "budget_tokens": float64(2048)}, 2148, nil},
		{"minimal thinks not", `{"reasoning_effort":"minimal"}`, translate.Options{MaxTokens: 100}, nil, 100, nil},
		{"a bound too small to think in", `{"reasoning_effort":"high","max_tokens":1500}`, translate.Options{}, nil, 1500, []string{"reasoning_effort"}},
		{"a forced tool", `{"reasoning_effort":"high","tool_choice":"required","tools":[{"type":"function","function":{"name":"f"}}]}`,
			translate.Options{MaxTokens: 100}, nil, 100, []string{"reasoning_effort"}},
		{"dropped by the options", `{"reasoning_effort":"high"}`, translate.Options{MaxTokens: 100, DropReasoning: true}, nil, 100, []string{"reasoning_effort"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := decode[map[string]any](t, tt.req)
			req["model"], req["messages"] = "claude", []any{map[string]any{"role": "user", "content": "x"}}
			b, _ := json.Marshal(req)
			out, dropped, err := translate.ChatToMessages(decode[openai.ChatRequest](t, string(b)), tt.opts)
			require.NoError(t, err)
			got := encode(t, out)
			assert.Equal(t, tt.thinking, got["thinking"])
			assert.Equal(t, tt.maxTokens, got["max_tokens"])
			assert.Equal(t, tt.droppedWhat, dropped.Fields)
			assert.NotContains(t, got, "reasoning_effort")
		})
	}
}

func TestReasoningEffortWithTemperatureIsRefusedForAnthropic(t *testing.T) {
	_, _, err := translate.ChatToMessages(decode[openai.ChatRequest](t,
		`{"model":"c","reasoning_effort":"low","temperature":0.2,"messages":[{"role":"user","content":"x"}]}`), translate.Options{MaxTokens: 100})
	var te *translate.Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "temperature", te.Field)
}

// Anthropic's thinking becomes reasoning_effort (output_config.effort
// first, else the budget's size), or is dropped and named; thinking blocks
// sent back are left out.
func TestThinkingBecomesReasoningEffort(t *testing.T) {
	for _, tt := range []struct {
		name, fields string
		opts         translate.Options
		effort       any
		dropped      []string
	}{
		{"a small budget", `"thinking":{"type":"enabled","budget_tokens":2000}`, translate.Options{}, "low", nil},
		{"a large budget", `"thinking":{"type":"enabled","budget_tokens":30000}`, translate.Options{}, "high", nil},
		{"adaptive with effort (Claude Code)", `"thinking":{"type":"adaptive"},"output_config":{"effort":"medium"}`, translate.Options{}, "medium", nil},
		{"max is high", `"output_config":{"effort":"max"}`, translate.Options{}, "high", nil},
		{"adaptive alone: the model's default", `"thinking":{"type":"adaptive"}`, translate.Options{}, nil, nil},
		{"disabled", `"thinking":{"type":"disabled"}`, translate.Options{}, nil, nil},
		{"dropped", `"thinking":{"type":"enabled","budget_tokens":2000}`, translate.Options{DropReasoning: true}, nil, []string{"thinking"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := decode[anthropic.MessagesRequest](t, `{"model":"m","max_tokens":50000,`+tt.fields+`,"messages":[
				{"role":"user","content":"q"},
				{"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig"},{"type":"redacted_thinking","data":"x"},{"type":"text","text":"a"}]},
				{"role":"user","content":"again"}]}`)
			out, dropped, err := translate.MessagesToChatRequest(req, tt.opts)
			require.NoError(t, err)
			got := encode(t, out)
			assert.Equal(t, tt.effort, got["reasoning_effort"])
			assert.Equal(t, tt.dropped, dropped.Fields)
			assert.NotContains(t, got, "thinking")
			assert.NotContains(t, got, "output_config")
			require.Len(t, out.Messages, 3)
			assert.Equal(t, `"a"`, string(out.Messages[1].Content)) // the thinking blocks left out
		})
	}
}

// The Responses API's reasoning.effort becomes reasoning_effort (its
// summary setting has no chat counterpart); reasoning items sent back
// are left out.
func TestResponsesReasoningBecomesReasoningEffort(t *testing.T) {
	req := decode[openai.ResponsesRequest](t, `{"model":"m","reasoning":{"effort":"high","summary":"auto"},"include":["reasoning.encrypted_content"],
		"input":[{"role":"user","content":"q"},{"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"e"},
		{"type":"message","role":"assistant","content":[{"type":"output_text","text":"a"}]}]}`)
	out, tr, err := translate.ResponsesToChat(req, translate.Options{})
	require.NoError(t, err)
	got := encode(t, out)
	assert.Equal(t, "high", got["reasoning_effort"])
	assert.NotContains(t, got, "reasoning")
	assert.NotContains(t, got, "include")
	require.Len(t, out.Messages, 2)
	assert.Empty(t, tr.Dropped.Fields)

	_, tr, err = translate.ResponsesToChat(req, translate.Options{DropReasoning: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"reasoning"}, tr.Dropped.Fields)
}

// Answers carry reasoning across: thinking blocks become reasoning_content,
// a chat answer's reasoning (either name) a thinking block, or a reasoning
// item with the text as its summary.
func TestAnswersCarryReasoning(t *testing.T) {
	chat := translate.MessagesToChat(decode[anthropic.MessagesResponse](t, `{"id":"msg","model":"c","stop_reason":"end_turn",
		"content":[{"type":"thinking","thinking":"think ","signature":"s"},{"type":"thinking","thinking":"more","signature":"s"},{"type":"text","text":"answer"}],
		"usage":{"input_tokens":1,"output_tokens":2}}`), 1)
	msg := encode(t, chat)["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
	assert.Equal(t, "think more", msg["reasoning_content"])
	assert.Equal(t, "answer", msg["content"])

	for _, field := range []string{"reasoning_content", "reasoning"} {
		cr := decode[openai.ChatResponse](t, `{"id":"chatcmpl-1","model":"m","choices":[{"index":0,"finish_reason":"stop",
			"message":{"role":"assistant","content":"answer","`+field+`":"because"}}]}`)
		m := encode(t, translate.ChatToMessagesResponse(cr))
		assert.Equal(t, []any{
			map[string]any{"type": "thinking", "thinking": "because", "signature": ""},
			map[string]any{"type": "text", "text": "answer"},
		}, m["content"], field)

		r := translate.ChatToResponse(cr, 1, translate.Translation{})
		require.Len(t, r.Output, 2, field)
		assert.Equal(t, map[string]any{"type": "reasoning", "id": "rs_resp_1", "status": "completed",
			"summary": []any{map[string]any{"type": "summary_text", "text": "because"}}}, encode(t, r.Output[0]))
		assert.Equal(t, "message", r.Output[1].Type)
	}
}

// Streams carry reasoning across: thinking deltas become reasoning_content
// deltas, reasoning deltas a thinking block closed before the text's, and
// a reasoning item whose summary streams in before the message item.
func TestStreamsCarryReasoning(t *testing.T) {
	chunks := chunksOf(t, feed(&translate.ChunksFromAnthropic{},
		`{"type":"message_start","message":{"id":"msg","model":"c","usage":{"input_tokens":1,"output_tokens":0}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"hi"}}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}`,
		`{"type":"message_stop"}`))
	var reasoning, text string
	for _, c := range chunks {
		for _, ch := range c.Choices {
			reasoning += ch.Delta.ReasoningContent
			text += ch.Delta.Content
		}
	}
	assert.Equal(t, "hm", reasoning)
	assert.Equal(t, "hi", text)

	chatStream := []string{
		`{"id":"chatcmpl-1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","reasoning":"th"}}]}`,
		`{"id":"chatcmpl-1","model":"m","choices":[{"index":0,"delta":{"reasoning_content":"ink"}}]}`,
		`{"id":"chatcmpl-1","model":"m","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}`,
		"[DONE]",
	}
	var names []string
	var blocks []map[string]any
	for _, ev := range feed(&translate.EventsFromChat{}, chatStream...) {
		names = append(names, ev.Event)
		m := decode[map[string]any](t, ev.Data)
		if ev.Event == "content_block_start" {
			blocks = append(blocks, m["content_block"].(map[string]any))
		}
	}
	assert.Equal(t, []string{"message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}, names)
	require.Len(t, blocks, 2)
	assert.Equal(t, map[string]any{"type": "thinking", "thinking": "", "signature": ""}, blocks[0])

	var types []string
	var done openai.Response
	for _, ev := range feed(&translate.ResponsesFromChat{Done: func(r openai.Response) { done = r }}, chatStream...) {
		types = append(types, ev.Event)
	}
	assert.Equal(t, []string{"response.created", "response.in_progress",
		"response.output_item.added", "response.reasoning_summary_part.added",
		"response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
		"response.output_item.added", "response.content_part.added", "response.output_text.delta",
		"response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
		"response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.completed"}, types)
	require.Len(t, done.Output, 2)
	assert.Equal(t, "think", done.Output[0].Summary[0].Text)
	assert.Equal(t, "ok", done.Output[1].Content[0].Text)
}

// Chain feeds one stream's events, its End's included, into the next.
func TestChainComposesStreams(t *testing.T) {
	var names []string
	for _, ev := range feed(translate.Chain(&translate.ChunksFromAnthropic{IncludeUsage: true}, &translate.ResponsesFromChat{}),
		`{"type":"message_start","message":{"id":"msg_1","model":"c","usage":{"input_tokens":4,"output_tokens":0}}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`,
		`{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":2}}`,
		`{"type":"message_stop"}`) {
		names = append(names, ev.Event)
		if ev.Event == "response.incomplete" {
			r := decode[struct{ Response openai.Response }](t, ev.Data).Response
			require.NotNil(t, r.Usage)
			assert.Equal(t, 4, r.Usage.InputTokens)
			assert.Equal(t, 2, r.Usage.OutputTokens)
		}
	}
	assert.Equal(t, "response.incomplete", names[len(names)-1])
	assert.Contains(t, names, "response.output_text.delta")
}

// cache_control on a chat part is kept for Anthropic: on the system
// prompt (which then keeps its block form) and on a turn's blocks.
func TestCacheControlIsKeptForAnthropic(t *testing.T) {
	req := decode[openai.ChatRequest](t, `{"model":"c","messages":[
		{"role":"system","content":[{"type":"text","text":"long rules","cache_control":{"type":"ephemeral"}}]},
		{"role":"system","content":"more"},
		{"role":"user","content":[{"type":"text","text":"doc","cache_control":{"type":"ephemeral","ttl":"1h"}}]}]}`)
	out, _, err := translate.ChatToMessages(req, translate.Options{MaxTokens: 10})
	require.NoError(t, err)
	got := encode(t, out)
	assert.Equal(t, []any{
		map[string]any{"type": "text", "text": "long rules", "cache_control": map[string]any{"type": "ephemeral"}},
		map[string]any{"type": "text", "text": "more"},
	}, got["system"])
	assert.Equal(t, []any{map[string]any{"type": "text", "text": "doc", "cache_control": map[string]any{"type": "ephemeral", "ttl": "1h"}}},
		got["messages"].([]any)[0].(map[string]any)["content"])

	// Without any, the system prompt is one string, blocks joined by a blank line.
	out, _, err = translate.ChatToMessages(decode[openai.ChatRequest](t, `{"model":"c","messages":[
		{"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"user","content":"x"}]}`), translate.Options{MaxTokens: 10})
	require.NoError(t, err)
	assert.Equal(t, "a\n\nb", encode(t, out)["system"])
}

// Tools chat has that Anthropic lacks (custom tools) are refused naming the
// field, or with DropBuiltinTools dropped and named.
func TestChatNonFunctionToolsRefusedOrDroppedForAnthropic(t *testing.T) {
	req := decode[openai.ChatRequest](t, `{"model":"c","messages":[{"role":"user","content":"x"}],
		"tools":[{"type":"custom","custom":{"name":"grammar"}},{"type":"function","function":{"name":"f"}}]}`)
	_, _, err := translate.ChatToMessages(req, translate.Options{MaxTokens: 10})
	var te *translate.Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "tools[0].type", te.Field)
	out, dropped, err := translate.ChatToMessages(req, translate.Options{MaxTokens: 10, DropBuiltinTools: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"custom"}, dropped.Tools)
	tools := encode(t, out)["tools"].([]any)
	require.Len(t, tools, 1)
	assert.Equal(t, "f", tools[0].(map[string]any)["name"])
}

// A server that sends its reasoning under both names (some do while moving
// from reasoning_content to reasoning) has it carried once.
func TestReasoningUnderBothNamesIsCarriedOnce(t *testing.T) {
	var text string
	for _, ev := range feed(&translate.EventsFromChat{},
		`{"id":"c","model":"m","choices":[{"index":0,"delta":{"reasoning_content":"hm","reasoning":"hm"}}]}`, "[DONE]") {
		if ev.Event == "content_block_delta" {
			text += decode[map[string]any](t, ev.Data)["delta"].(map[string]any)["thinking"].(string)
		}
	}
	assert.Equal(t, "hm", text)
}
