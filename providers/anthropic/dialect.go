package anthropic

import (
	"encoding/json"
	"net/http"

	"github.com/khive-go/khive/endpoint"
)

// Dialect is what an endpoint knows of Anthropic's wire format: the generic
// dialect (its error bodies {"type":"error","error":{...}} read the same;
// usage as input_tokens + output_tokens; anthropic-ratelimit-* headers,
// reset as the instant the bucket is full) plus its 529 "overloaded":
// retried, and overloaded.
var Dialect endpoint.Dialect = dialect{}

// StatusOverloaded is Anthropic's 529: its API is overloaded.
const StatusOverloaded = 529

type dialect struct{ endpoint.GenericDialect }

func (dialect) Retryable(status int) bool {
	return status == StatusOverloaded || endpoint.GenericDialect{}.Retryable(status)
}

func (dialect) Overloaded(status int) bool {
	return status == StatusOverloaded || status == http.StatusServiceUnavailable
}

// Answer reads a message, a stream's message_start event (whose message
// is nested and carries the input tokens) as the message it starts, and a
// message_delta event's stop_reason (in its delta) and usage.
func (dialect) Answer(body []byte) endpoint.Answer {
	var ev struct {
		Type    string          `json:"type"`
		Message json.RawMessage `json:"message"`
		Delta   struct {
			StopReason *string `json:"stop_reason"`
		} `json:"delta"`
	}
	if json.Unmarshal(body, &ev) != nil {
		return endpoint.GenericDialect{}.Answer(body)
	}
	switch {
	case ev.Type == "message_start" && len(ev.Message) > 0:
		body = ev.Message
	case ev.Type == "message_delta":
		a := endpoint.GenericDialect{}.Answer(body)
		if ev.Delta.StopReason != nil {
			a.FinishReasons = append(a.FinishReasons, *ev.Delta.StopReason)
		}
		return a
	}
	return endpoint.GenericDialect{}.Answer(body)
}
