package openai

import (
	"encoding/json"

	"github.com/khive-go/khive/providers/internal/wire"
)

// ChatRequest is an OpenAI chat completions request. Fields it does not
// model are kept in wire.Extra and sent on.
type ChatRequest struct {
	Model               string         `json:"model"`
	Messages            []ChatMessage  `json:"messages"`
	Stream              bool           `json:"stream,omitempty"`
	StreamOptions       *StreamOptions `json:"stream_options,omitempty"`
	MaxTokens           *int           `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int           `json:"max_completion_tokens,omitempty"`
	Temperature         *float64       `json:"temperature,omitempty"`
	TopP                *float64       `json:"top_p,omitempty"`
	// Stop is a string or an array of strings.
	Stop  json.RawMessage `json:"stop,omitempty"`
	Extra wire.Extra      `json:"-"`
}

// StreamOptions asks for a final usage chunk.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// ChatMessage is one message. Content is a string or an array of parts.
type ChatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content,omitempty"`
	Name       string          `json:"name,omitempty"`
	ToolCalls  json.RawMessage `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
	Extra      wire.Extra      `json:"-"`
}

// TextContent returns the message's content as a JSON string value.
func TextContent(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// ChatResponse is a non-streaming chat completion.
type ChatResponse struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []ChatChoice `json:"choices"`
	Usage   *ChatUsage   `json:"usage,omitempty"`
	Extra   wire.Extra   `json:"-"`
}

// ChatChoice is one choice of a chat completion.
type ChatChoice struct {
	Index        int         `json:"index"`
	Message      ChatMessage `json:"message"`
	FinishReason string      `json:"finish_reason"`
	// Logprobs is null unless asked for; the schema requires the field.
	Logprobs json.RawMessage `json:"logprobs"`
}

// ChatUsage is a chat completion's (and a usage chunk's) token counts;
// completion_tokens is written even when 0, as the schema requires.
type ChatUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Usage counts tokens (embeddings: no completion_tokens).
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens,omitempty"`
	TotalTokens      int `json:"total_tokens"`
}

// ChatChunk is one streamed chunk (object "chat.completion.chunk"). The
// final usage chunk has no choices.
type ChatChunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []ChunkChoice `json:"choices"`
	Usage   *ChatUsage    `json:"usage,omitempty"`
}

// ChunkChoice is a choice's delta in a chunk.
type ChunkChoice struct {
	Index        int       `json:"index"`
	Delta        ChatDelta `json:"delta"`
	FinishReason *string   `json:"finish_reason"`
}

// ChatDelta is the new part of a streamed message.
type ChatDelta struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content,omitempty"`
	// ReasoningContent is a reasoning model's thinking as DeepSeek, vLLM
	// and the gateway's translations send it; Reasoning as OpenRouter,
	// Groq and Ollama do. Read both with ReasoningText.
	ReasoningContent string     `json:"reasoning_content,omitempty"`
	Reasoning        string     `json:"reasoning,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
}

// ReasoningText is the delta's reasoning, under either name (one, when a
// server sends both, as some do while moving from one name to the other).
func (d ChatDelta) ReasoningText() string {
	if d.ReasoningContent != "" {
		return d.ReasoningContent
	}
	return d.Reasoning
}

// ToolCall is one call of a function tool: in an assistant message (a
// ChatMessage's ToolCalls holds them as JSON), or a fragment of one in a
// stream delta, where Index says which call it continues and only the first
// fragment carries ID and the function's name.
type ToolCall struct {
	Index    *int             `json:"index,omitempty"`
	ID       string           `json:"id,omitempty"`
	Type     string           `json:"type,omitempty"`
	Function ToolCallFunction `json:"function"`
}

// ToolCallFunction is the function a tool call calls; Arguments is a JSON
// object encoded as a string (or a fragment of one in a stream).
type ToolCallFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// EmbeddingsRequest asks for embeddings. Input is a string or an array.
type EmbeddingsRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format,omitempty"` // float or base64
	Dimensions     *int            `json:"dimensions,omitempty"`
	Extra          wire.Extra      `json:"-"`
}

// EmbeddingsResponse lists embeddings. Each Embedding is a JSON array of
// floats, or a base64 string of little-endian float32s.
type EmbeddingsResponse struct {
	Object string      `json:"object"`
	Data   []Embedding `json:"data"`
	Model  string      `json:"model"`
	Usage  *Usage      `json:"usage,omitempty"`
}

// Embedding is one vector.
type Embedding struct {
	Object    string          `json:"object"`
	Index     int             `json:"index"`
	Embedding json.RawMessage `json:"embedding"`
}

// ErrorBody is OpenAI's error envelope.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes an error.
type ErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// ModelList is GET /v1/models.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}

// Model is one entry of a ModelList.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type (
	chatRequestFields       ChatRequest
	chatMessageFields       ChatMessage
	chatResponseFields      ChatResponse
	embeddingsRequestFields EmbeddingsRequest
)

// ChatRequestFromFields decodes a request whose top-level object a router
// has already split into its fields (json.Unmarshal into a map of
// json.RawMessage): each field's value is decoded once, where it lies.
func ChatRequestFromFields(fields map[string]json.RawMessage) (ChatRequest, error) {
	var r ChatRequest
	var err error
	r.Extra, err = wire.DecodeFields(fields, (*chatRequestFields)(&r))
	return r, err
}

func (r ChatRequest) MarshalJSON() ([]byte, error) {
	return wire.MarshalWithExtra(chatRequestFields(r), r.Extra)
}

func (r *ChatRequest) UnmarshalJSON(b []byte) (err error) {
	r.Extra, err = wire.UnmarshalWithExtra(b, (*chatRequestFields)(r))
	return err
}

func (m ChatMessage) MarshalJSON() ([]byte, error) {
	return wire.MarshalWithExtra(chatMessageFields(m), m.Extra)
}

func (m *ChatMessage) UnmarshalJSON(b []byte) (err error) {
	m.Extra, err = wire.UnmarshalWithExtra(b, (*chatMessageFields)(m))
	return err
}

func (r ChatResponse) MarshalJSON() ([]byte, error) {
	return wire.MarshalWithExtra(chatResponseFields(r), r.Extra)
}

func (r *ChatResponse) UnmarshalJSON(b []byte) (err error) {
	r.Extra, err = wire.UnmarshalWithExtra(b, (*chatResponseFields)(r))
	return err
}

func (r EmbeddingsRequest) MarshalJSON() ([]byte, error) {
	return wire.MarshalWithExtra(embeddingsRequestFields(r), r.Extra)
}

func (r *EmbeddingsRequest) UnmarshalJSON(b []byte) (err error) {
	r.Extra, err = wire.UnmarshalWithExtra(b, (*embeddingsRequestFields)(r))
	return err
}

// Text returns the message's text: the content string, or its text parts
// joined. Other part types are skipped.
func (m ChatMessage) Text() string {
	return contentText(m.Content)
}

// Reasoning is an answer's reasoning: reasoning_content (DeepSeek, vLLM)
// or reasoning (OpenRouter, Groq, Ollama), when a string.
func (m ChatMessage) Reasoning() string {
	for _, k := range []string{"reasoning_content", "reasoning"} {
		var s string
		if raw, ok := m.Extra[k]; ok && json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
	}
	return ""
}

// contentText reads content that is a JSON string or an array of parts
// with {"type":"text","text":...}.
func contentText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var out string
	for _, p := range parts {
		if p.Type == "text" {
			out += p.Text
		}
	}
	return out
}
