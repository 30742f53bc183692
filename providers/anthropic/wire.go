package anthropic

import (
	"encoding/json"

	"github.com/khive-go/khive/providers/internal/wire"
)

// MessagesRequest is an Anthropic messages request.
type MessagesRequest struct {
	Model     string    `json:"model"`
	MaxTokens int       `json:"max_tokens"`
	Messages  []Message `json:"messages"`
	// System is a string or an array of text blocks.
	System        json.RawMessage `json:"system,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int            `json:"top_k,omitempty"`
	Extra         wire.Extra      `json:"-"`
}

// Message is one turn. Content is a string or an array of blocks.
type Message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// MessagesResponse is a non-streaming Anthropic answer.
type MessagesResponse struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"` // "message"
	Role         string         `json:"role"`
	Model        string         `json:"model"`
	Content      []ContentBlock `json:"content"`
	StopReason   string         `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"`
	Usage        Usage          `json:"usage"`
	Extra        wire.Extra     `json:"-"`
}

// ContentBlock is one block of content. Text is set for type "text"; ID,
// Name and Input for "tool_use"; Thinking for "thinking"; other block
// types keep their fields in wire.Extra.
type ContentBlock struct {
	Type     string          `json:"type"`
	Text     string          `json:"text,omitempty"`
	Thinking string          `json:"thinking,omitempty"`
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name,omitempty"`
	Input    json.RawMessage `json:"input,omitempty"`
	Extra    wire.Extra      `json:"-"`
}

// Usage counts tokens.
type Usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// StreamEvent is any event of an Anthropic stream; which fields are set
// depends on Type: message_start (Message), content_block_start (Index,
// ContentBlock), content_block_delta (Index, Delta), content_block_stop
// (Index), message_delta (Delta, Usage), message_stop, ping, error (Error).
type StreamEvent struct {
	Type         string            `json:"type"`
	Message      *MessagesResponse `json:"message,omitempty"`
	Index        *int              `json:"index,omitempty"`
	ContentBlock *ContentBlock     `json:"content_block,omitempty"`
	Delta        *EventDelta       `json:"delta,omitempty"`
	Usage        *Usage            `json:"usage,omitempty"`
	Error        *Error            `json:"error,omitempty"`
}

// EventDelta is a content_block_delta's or message_delta's delta.
type EventDelta struct {
	Type         string  `json:"type,omitempty"` // text_delta, input_json_delta, thinking_delta, ...
	Text         string  `json:"text,omitempty"`
	Thinking     string  `json:"thinking,omitempty"`
	PartialJSON  string  `json:"partial_json,omitempty"`
	StopReason   string  `json:"stop_reason,omitempty"`
	StopSequence *string `json:"stop_sequence,omitempty"`
}

// ErrorBody is Anthropic's error envelope.
type ErrorBody struct {
	Type  string `json:"type"` // "error"
	Error Error  `json:"error"`
}

// Error describes an error.
type Error struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type (
	messagesRequestFields  MessagesRequest
	messagesResponseFields MessagesResponse
	contentBlockFields     ContentBlock
)

func (r MessagesRequest) MarshalJSON() ([]byte, error) {
	return wire.MarshalWithExtra(messagesRequestFields(r), r.Extra)
}

func (r *MessagesRequest) UnmarshalJSON(b []byte) (err error) {
	r.Extra, err = wire.UnmarshalWithExtra(b, (*messagesRequestFields)(r))
	return err
}

func (r MessagesResponse) MarshalJSON() ([]byte, error) {
	return wire.MarshalWithExtra(messagesResponseFields(r), r.Extra)
}

func (r *MessagesResponse) UnmarshalJSON(b []byte) (err error) {
	r.Extra, err = wire.UnmarshalWithExtra(b, (*messagesResponseFields)(r))
	return err
}

func (c ContentBlock) MarshalJSON() ([]byte, error) {
	return wire.MarshalWithExtra(contentBlockFields(c), c.Extra)
}

func (c *ContentBlock) UnmarshalJSON(b []byte) (err error) {
	c.Extra, err = wire.UnmarshalWithExtra(b, (*contentBlockFields)(c))
	return err
}
