package translate

import (
	"encoding/json"

	"github.com/khive-go/khive/endpoint"

	"github.com/khive-go/khive/providers/anthropic"

	"github.com/khive-go/khive/providers/openai"
)

// ChunksFromAnthropic turns an Anthropic event stream into chat completion
// chunks, one event at a time. Create one per stream.
type ChunksFromAnthropic struct {
	// IncludeUsage adds the final usage chunk (stream_options.include_usage).
	IncludeUsage bool
	Created      int64

	id, model string
	usage     openai.ChatUsage
	tools     map[int]int // Anthropic block index -> OpenAI tool call index
}

// Event returns the chunks an event becomes (often none).
func (t *ChunksFromAnthropic) Event(ev anthropic.StreamEvent) []openai.ChatChunk {
	switch ev.Type {
	case "message_start":
		if ev.Message != nil {
			t.id, t.model = ev.Message.ID, ev.Message.Model
			t.usage.PromptTokens = ev.Message.Usage.InputTokens
		}
		return []openai.ChatChunk{t.chunk(openai.ChatDelta{Role: "assistant"}, nil)}
	case "content_block_start":
		// A tool call opens: its id and name on the first chunk, its
		// arguments in the fragments that follow.
		if b := ev.ContentBlock; b != nil && b.Type == "tool_use" && ev.Index != nil {
			if t.tools == nil {
				t.tools = map[int]int{}
			}
			k := len(t.tools)
			t.tools[*ev.Index] = k
			return []openai.ChatChunk{t.chunk(openai.ChatDelta{ToolCalls: []openai.ToolCall{{
				Index: &k, ID: b.ID, Type: "function", Function: openai.ToolCallFunction{Name: b.Name}}}}, nil)}
		}
	case "content_block_delta":
		if ev.Delta != nil && ev.Delta.Type == "text_delta" && ev.Delta.Text != "" {
			return []openai.ChatChunk{t.chunk(openai.ChatDelta{Content: ev.Delta.Text}, nil)}
		}
		if ev.Delta != nil && ev.Delta.Type == "input_json_delta" && ev.Delta.PartialJSON != "" && ev.Index != nil {
			if k, ok := t.tools[*ev.Index]; ok {
				return []openai.ChatChunk{t.chunk(openai.ChatDelta{ToolCalls: []openai.ToolCall{{
					Index: &k, Function: openai.ToolCallFunction{Arguments: ev.Delta.PartialJSON}}}}, nil)}
			}
		}
	case "message_delta":
		if ev.Usage != nil {
			t.usage.CompletionTokens = ev.Usage.OutputTokens
		}
		if ev.Delta != nil && ev.Delta.StopReason != "" {
			fr := FinishReason(ev.Delta.StopReason)
			return []openai.ChatChunk{t.chunk(openai.ChatDelta{}, &fr)}
		}
	case "message_stop":
		if t.IncludeUsage {
			u := t.usage
			u.TotalTokens = u.PromptTokens + u.CompletionTokens
			c := t.chunk(openai.ChatDelta{}, nil)
			c.Choices, c.Usage = []openai.ChunkChoice{}, &u
			return []openai.ChatChunk{c}
		}
	}
	return nil // ping, text block starts, block stops, and events yet unknown
}

func (t *ChunksFromAnthropic) chunk(d openai.ChatDelta, finish *string) openai.ChatChunk {
	return openai.ChatChunk{ID: t.id, Object: "chat.completion.chunk", Created: t.Created, Model: t.model,
		Choices: []openai.ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}}
}

// EventsFromChat turns chat completion chunks into an Anthropic event
// stream. Create one per stream; call Chunk for each chunk and End after
// [DONE]. Text becomes a text block, each tool call a tool_use block (its
// id and name when it opens, its arguments as input_json_delta), blocks
// indexed in the order they open.
type EventsFromChat struct {
	started bool
	finish  string
	usage   anthropic.Usage
	next    int         // the index the next block gets
	open    int         // the open block's index, -1 for none
	text    bool        // the open block is text
	tools   map[int]int // OpenAI tool call index -> block index
}

// Chunk returns the events a chunk becomes.
func (t *EventsFromChat) Chunk(c openai.ChatChunk) []endpoint.Event {
	var out []endpoint.Event
	if !t.started {
		t.started, t.open = true, -1
		out = append(out,
			event("message_start", map[string]any{"type": "message_start", "message": map[string]any{
				"id": c.ID, "type": "message", "role": "assistant", "model": c.Model, "content": []any{},
				"stop_reason": nil, "stop_sequence": nil, "usage": map[string]int{"input_tokens": 0, "output_tokens": 0}}}),
		)
	}
	for _, ch := range c.Choices {
		if ch.Delta.Content != "" {
			if t.open < 0 || !t.text {
				out = append(out, t.startBlock(map[string]string{"type": "text", "text": ""}, true)...)
			}
			out = append(out, event("content_block_delta", map[string]any{"type": "content_block_delta", "index": t.open,
				"delta": map[string]string{"type": "text_delta", "text": ch.Delta.Content}}))
		}
		for _, tc := range ch.Delta.ToolCalls {
			k := 0
			if tc.Index != nil {
				k = *tc.Index
			}
			idx, known := t.tools[k]
			if !known {
				out = append(out, t.startBlock(map[string]any{"type": "tool_use", "id": tc.ID, "name": tc.Function.Name, "input": map[string]any{}}, false)...)
				if t.tools == nil {
					t.tools = map[int]int{}
				}
				idx = t.open
				t.tools[k] = idx
			}
			if tc.Function.Arguments != "" {
				out = append(out, event("content_block_delta", map[string]any{"type": "content_block_delta", "index": idx,
					"delta": map[string]string{"type": "input_json_delta", "partial_json": tc.Function.Arguments}}))
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			t.finish = *ch.FinishReason
		}
	}
	if c.Usage != nil {
		t.usage = anthropic.Usage{InputTokens: c.Usage.PromptTokens, OutputTokens: c.Usage.CompletionTokens}
	}
	return out
}

// startBlock closes the open block and opens the next.
func (t *EventsFromChat) startBlock(block any, text bool) []endpoint.Event {
	out := t.closeBlock()
	t.open, t.text = t.next, text
	t.next++
	return append(out, event("content_block_start", map[string]any{"type": "content_block_start", "index": t.open, "content_block": block}))
}

func (t *EventsFromChat) closeBlock() []endpoint.Event {
	if t.open < 0 {
		return nil
	}
	i := t.open
	t.open = -1
	return []endpoint.Event{event("content_block_stop", map[string]any{"type": "content_block_stop", "index": i})}
}

// End returns the closing events.
func (t *EventsFromChat) End() []endpoint.Event {
	var out []endpoint.Event
	if !t.started {
		out = t.Chunk(openai.ChatChunk{})
	}
	if t.next == 0 { // an answer with nothing: one empty text block, as Anthropic sends
		out = append(out, t.startBlock(map[string]string{"type": "text", "text": ""}, true)...)
	}
	out = append(out, t.closeBlock()...)
	return append(out,
		event("message_delta", map[string]any{"type": "message_delta",
			"delta": map[string]any{"stop_reason": StopReason(t.finish), "stop_sequence": nil},
			"usage": map[string]int{"output_tokens": t.usage.OutputTokens}}),
		event("message_stop", map[string]any{"type": "message_stop"}),
	)
}

func event(name string, v any) endpoint.Event {
	b, _ := json.Marshal(v)
	return endpoint.Event{Event: name, Data: string(b)}
}
