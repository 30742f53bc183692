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
	usage     openai.Usage
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
	case "content_block_delta":
		if ev.Delta != nil && ev.Delta.Type == "text_delta" && ev.Delta.Text != "" {
			return []openai.ChatChunk{t.chunk(openai.ChatDelta{Content: ev.Delta.Text}, nil)}
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
	return nil // ping, content_block_start/stop, and events yet unknown
}

func (t *ChunksFromAnthropic) chunk(d openai.ChatDelta, finish *string) openai.ChatChunk {
	return openai.ChatChunk{ID: t.id, Object: "chat.completion.chunk", Created: t.Created, Model: t.model,
		Choices: []openai.ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}}
}

// EventsFromChat turns chat completion chunks into an Anthropic event
// stream. Create one per stream; call Chunk for each chunk and End after
// [DONE].
type EventsFromChat struct {
	started bool
	finish  string
	usage   anthropic.Usage
}

// Chunk returns the events a chunk becomes.
func (t *EventsFromChat) Chunk(c openai.ChatChunk) []endpoint.Event {
	var out []endpoint.Event
	if !t.started {
		t.started = true
		out = append(out,
			event("message_start", map[string]any{"type": "message_start", "message": map[string]any{
				"id": c.ID, "type": "message", "role": "assistant", "model": c.Model, "content": []any{},
				"stop_reason": nil, "stop_sequence": nil, "usage": map[string]int{"input_tokens": 0, "output_tokens": 0}}}),
			event("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
				"content_block": map[string]string{"type": "text", "text": ""}}),
		)
	}
	for _, ch := range c.Choices {
		if ch.Delta.Content != "" {
			out = append(out, event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
				"delta": map[string]string{"type": "text_delta", "text": ch.Delta.Content}}))
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

// End returns the closing events.
func (t *EventsFromChat) End() []endpoint.Event {
	var out []endpoint.Event
	if !t.started {
		out = t.Chunk(openai.ChatChunk{})
	}
	return append(out,
		event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0}),
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
