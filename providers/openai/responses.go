package openai

import (
	"encoding/json"

	"github.com/khive-go/khive/providers/internal/wire"
)

// ResponsesRequest is a Responses API request (POST /v1/responses): the
// fields a gateway translates; the rest are kept in Extra.
type ResponsesRequest struct {
	Model string `json:"model"`
	// Input is a string or an array of items (message, function_call,
	// function_call_output, ...).
	Input           json.RawMessage `json:"input"`
	Instructions    string          `json:"instructions,omitempty"`
	MaxOutputTokens *int            `json:"max_output_tokens,omitempty"`
	Temperature     *float64        `json:"temperature,omitempty"`
	TopP            *float64        `json:"top_p,omitempty"`
	Stream          bool            `json:"stream,omitempty"`
	Tools           json.RawMessage `json:"tools,omitempty"`
	ToolChoice      json.RawMessage `json:"tool_choice,omitempty"`
	Text            json.RawMessage `json:"text,omitempty"`
	Extra           wire.Extra      `json:"-"`
}

// Response is a Responses API answer, and the response object its stream
// events carry.
type Response struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"` // "response"
	CreatedAt         int64              `json:"created_at"`
	Status            string             `json:"status"` // completed, incomplete, in_progress
	Error             json.RawMessage    `json:"error"`  // null unless failed
	IncompleteDetails *IncompleteDetails `json:"incomplete_details"`
	Instructions      *string            `json:"instructions"`
	Metadata          json.RawMessage    `json:"metadata"`
	Model             string             `json:"model"`
	Output            []OutputItem       `json:"output"`
	ParallelToolCalls bool               `json:"parallel_tool_calls"`
	Temperature       *float64           `json:"temperature"`
	TopP              *float64           `json:"top_p"`
	ToolChoice        json.RawMessage    `json:"tool_choice"`
	Tools             json.RawMessage    `json:"tools"`
	Usage             *ResponseUsage     `json:"usage,omitempty"`
}

// IncompleteDetails says why a response is incomplete.
type IncompleteDetails struct {
	Reason string `json:"reason"` // max_output_tokens, content_filter
}

// OutputItem is one item of a response's output: a message (Content), a
// function call (CallID, Name, Arguments) or reasoning (Summary).
type OutputItem struct {
	Type      string        `json:"type"` // message, function_call, reasoning
	ID        string        `json:"id"`
	Status    string        `json:"status"`
	Role      string        `json:"role,omitempty"`
	Content   []OutputPart  `json:"content,omitempty"`
	Summary   []SummaryPart `json:"summary,omitempty"`
	CallID    string        `json:"call_id,omitempty"`
	Name      string        `json:"name,omitempty"`
	Namespace string        `json:"namespace,omitempty"` // a function call's, when its tool is in one
	Arguments string        `json:"arguments,omitempty"`
}

// MarshalJSON writes what the Responses API's schema requires of each
// item type even when empty: a message's content ([] while it streams in),
// a function call's arguments ("" before the first delta); the official
// SDKs' stream accumulators and the AI SDK's validators expect both.
func (it OutputItem) MarshalJSON() ([]byte, error) {
	type plain OutputItem
	switch it.Type {
	case "message":
		if it.Content == nil {
			it.Content = []OutputPart{}
		}
		return json.Marshal(struct {
			plain
			Content []OutputPart `json:"content"`
		}{plain(it), it.Content})
	case "function_call":
		return json.Marshal(struct {
			plain
			Arguments string `json:"arguments"`
		}{plain(it), it.Arguments})
	case "reasoning":
		if it.Summary == nil {
			it.Summary = []SummaryPart{}
		}
		return json.Marshal(struct {
			plain
			Summary []SummaryPart `json:"summary"`
		}{plain(it), it.Summary})
	}
	return json.Marshal(plain(it))
}

// OutputPart is a part of a message item: output_text, with its
// annotations and logprobs ([] when there are none).
type OutputPart struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
	Logprobs    []any  `json:"logprobs"`
}

// MarshalJSON writes annotations and logprobs as [] when there are none.
func (p OutputPart) MarshalJSON() ([]byte, error) {
	type plain OutputPart
	if p.Annotations == nil {
		p.Annotations = []any{}
	}
	if p.Logprobs == nil {
		p.Logprobs = []any{}
	}
	return json.Marshal(plain(p))
}

// SummaryPart is a part of a reasoning item's summary (summary_text).
type SummaryPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// ResponseUsage counts a response's tokens.
type ResponseUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens     int `json:"cached_tokens"`
		CacheWriteTokens int `json:"cache_write_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

type responsesRequestFields ResponsesRequest

// ResponsesRequestFromFields decodes a request whose top-level object a
// router has already split into its fields.
func ResponsesRequestFromFields(fields map[string]json.RawMessage) (ResponsesRequest, error) {
	var r ResponsesRequest
	var err error
	r.Extra, err = wire.DecodeFields(fields, (*responsesRequestFields)(&r))
	return r, err
}

func (r ResponsesRequest) MarshalJSON() ([]byte, error) {
	return wire.MarshalWithExtra(responsesRequestFields(r), r.Extra)
}

func (r *ResponsesRequest) UnmarshalJSON(b []byte) (err error) {
	r.Extra, err = wire.UnmarshalWithExtra(b, (*responsesRequestFields)(r))
	return err
}
