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

// Answer reads a message, or a stream's message_start event (whose message
// is nested and carries the input tokens) as the message it starts.
func (dialect) Answer(body []byte) endpoint.Answer {
	var ev struct {
		Type    string          `json:"type"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &ev) == nil && ev.Type == "message_start" && len(ev.Message) > 0 {
		body = ev.Message
	}
	return endpoint.GenericDialect{}.Answer(body)
}
