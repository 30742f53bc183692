package translate

import (
	"encoding/json"

	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/openai"
)

// Event is one server-sent event: its name (the event: field; empty for
// OpenAI's data-only events) and its data. Its fields are those of
// endpoint.Event, so a stream's events convert with a cast.
type Event struct {
	Event string
	Data  string
	ID    string
}

// A Stream translates one stream from one format to another, event by
// event: Event returns what an upstream event becomes (often nothing;
// events it cannot read are skipped), End what closes the stream after
// the upstream ended cleanly. ChunksFromAnthropic, EventsFromChat and
// ResponsesFromChat are Streams, and Chain composes two.
type Stream interface {
	Event(Event) []Event
	End() []Event
}

// Chain is a stream through a and then b: every event a gives (its End
// included) goes into b.
func Chain(a, b Stream) Stream { return chain{a, b} }

type chain struct{ a, b Stream }

func (c chain) Event(ev Event) []Event { return c.feed(c.a.Event(ev)) }

func (c chain) End() []Event { return append(c.feed(c.a.End()), c.b.End()...) }

func (c chain) feed(evs []Event) []Event {
	var out []Event
	for _, ev := range evs {
		out = append(out, c.b.Event(ev)...)
	}
	return out
}

// done ends a chat completion stream.
var done = Event{Data: "[DONE]"}

// chatChunk reads a chat completion chunk; false for [DONE] and anything
// else that is not one.
func chatChunk(ev Event) (openai.ChatChunk, bool) {
	var c openai.ChatChunk
	if ev.Data == "[DONE]" || json.Unmarshal([]byte(ev.Data), &c) != nil {
		return c, false
	}
	return c, true
}

// ChunksFromAnthropic turns an Anthropic event stream into chat completion
// chunks, one event at a time: text deltas become content, thinking
// deltas reasoning_content, tool_use blocks tool calls, stop_reason a
// finish_reason; End gives [DONE]. Create one per stream.
type ChunksFromAnthropic struct {
	// IncludeUsage adds the final usage chunk (stream_options.include_usage).
	IncludeUsage bool
	Created      int64

	id, model string
	usage     openai.ChatUsage
	tools     map[int]int // Anthropic block index -> OpenAI tool call index
}

// Event returns the chunks an Anthropic event becomes.
func (t *ChunksFromAnthropic) Event(ev Event) []Event {
	var e anthropic.StreamEvent
	if json.Unmarshal([]byte(ev.Data), &e) != nil {
		return nil
	}
	var out []Event
	for _, c := range t.chunks(e) {
		out = append(out, event("", c))
	}
	return out
}

// End returns [DONE].
func (t *ChunksFromAnthropic) End() []Event { return []Event{done} }

func (t *ChunksFromAnthropic) chunks(ev anthropic.StreamEvent) []openai.ChatChunk {
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
		return t.delta(ev)
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

func (t *ChunksFromAnthropic) delta(ev anthropic.StreamEvent) []openai.ChatChunk {
	d := ev.Delta
	switch {
	case d == nil:
	case d.Type == "text_delta" && d.Text != "":
		return []openai.ChatChunk{t.chunk(openai.ChatDelta{Content: d.Text}, nil)}
	case d.Type == "thinking_delta" && d.Thinking != "":
		return []openai.ChatChunk{t.chunk(openai.ChatDelta{ReasoningContent: d.Thinking}, nil)}
	case d.Type == "input_json_delta" && d.PartialJSON != "" && ev.Index != nil:
		if k, ok := t.tools[*ev.Index]; ok {
			return []openai.ChatChunk{t.chunk(openai.ChatDelta{ToolCalls: []openai.ToolCall{{
				Index: &k, Function: openai.ToolCallFunction{Arguments: d.PartialJSON}}}}, nil)}
		}
	}
	return nil // signature deltas, and deltas yet unknown
}

func (t *ChunksFromAnthropic) chunk(d openai.ChatDelta, finish *string) openai.ChatChunk {
	return openai.ChatChunk{ID: t.id, Object: "chat.completion.chunk", Created: t.Created, Model: t.model,
		Choices: []openai.ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}}
}

// EventsFromChat turns chat completion chunks into an Anthropic event
// stream. Create one per stream. Reasoning (reasoning_content or
// reasoning) becomes a thinking block, text a text block, each tool call a
// tool_use block (its id and name when it opens, its arguments as
// input_json_delta), blocks indexed in the order they open.
type EventsFromChat struct {
	started bool
	finish  string
	usage   anthropic.Usage
	next    int         // the index the next block gets
	open    int         // the open block's index, -1 for none
	kind    string      // the open block's type
	tools   map[int]int // OpenAI tool call index -> block index
}

// Event returns the events a chat chunk becomes.
func (t *EventsFromChat) Event(ev Event) []Event {
	c, ok := chatChunk(ev)
	if !ok {
		return nil
	}
	return t.chunk(c)
}

func (t *EventsFromChat) chunk(c openai.ChatChunk) []Event {
	var out []Event
	if !t.started {
		t.started, t.open = true, -1
		out = append(out,
			event("message_start", map[string]any{"type": "message_start", "message": map[string]any{
				"id": c.ID, "type": "message", "role": "assistant", "model": c.Model, "content": []any{},
				"stop_reason": nil, "stop_sequence": nil, "usage": map[string]int{"input_tokens": 0, "output_tokens": 0}}}),
		)
	}
	for _, ch := range c.Choices {
		if r := ch.Delta.ReasoningText(); r != "" {
			if t.open < 0 || t.kind != "thinking" {
				out = append(out, t.startBlock(map[string]string{"type": "thinking", "thinking": "", "signature": ""}, "thinking")...)
			}
			out = append(out, t.delta(t.open, map[string]string{"type": "thinking_delta", "thinking": r}))
		}
		if ch.Delta.Content != "" {
			if t.open < 0 || t.kind != "text" {
				out = append(out, t.startBlock(map[string]string{"type": "text", "text": ""}, "text")...)
			}
			out = append(out, t.delta(t.open, map[string]string{"type": "text_delta", "text": ch.Delta.Content}))
		}
		for _, tc := range ch.Delta.ToolCalls {
			out = append(out, t.toolCall(tc)...)
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

func (t *EventsFromChat) toolCall(tc openai.ToolCall) []Event {
	var out []Event
	k := 0
	if tc.Index != nil {
		k = *tc.Index
	}
	idx, known := t.tools[k]
	if !known {
		out = append(out, t.startBlock(map[string]any{"type": "tool_use", "id": tc.ID, "name": tc.Function.Name, "input": map[string]any{}}, "tool_use")...)
		if t.tools == nil {
			t.tools = map[int]int{}
		}
		idx = t.open
		t.tools[k] = idx
	}
	if tc.Function.Arguments != "" {
		out = append(out, t.delta(idx, map[string]string{"type": "input_json_delta", "partial_json": tc.Function.Arguments}))
	}
	return out
}

func (t *EventsFromChat) delta(index int, d map[string]string) Event {
	return event("content_block_delta", map[string]any{"type": "content_block_delta", "index": index, "delta": d})
}

// startBlock closes the open block and opens the next.
func (t *EventsFromChat) startBlock(block any, kind string) []Event {
	out := t.closeBlock()
	t.open, t.kind = t.next, kind
	t.next++
	return append(out, event("content_block_start", map[string]any{"type": "content_block_start", "index": t.open, "content_block": block}))
}

func (t *EventsFromChat) closeBlock() []Event {
	if t.open < 0 {
		return nil
	}
	i := t.open
	t.open = -1
	return []Event{event("content_block_stop", map[string]any{"type": "content_block_stop", "index": i})}
}

// End returns the closing events.
func (t *EventsFromChat) End() []Event {
	var out []Event
	if !t.started {
		out = t.chunk(openai.ChatChunk{})
	}
	if t.next == 0 { // an answer with nothing: one empty text block, as Anthropic sends
		out = append(out, t.startBlock(map[string]string{"type": "text", "text": ""}, "text")...)
	}
	out = append(out, t.closeBlock()...)
	return append(out,
		event("message_delta", map[string]any{"type": "message_delta",
			"delta": map[string]any{"stop_reason": StopReason(t.finish), "stop_sequence": nil},
			"usage": map[string]int{"output_tokens": t.usage.OutputTokens}}),
		event("message_stop", map[string]any{"type": "message_stop"}),
	)
}

func event(name string, v any) Event {
	b, _ := json.Marshal(v)
	return Event{Event: name, Data: string(b)}
}
