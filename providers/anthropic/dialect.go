package anthropic

import (
	"net/http"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/internal/jsonscan"
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
	var typ string
	var message, delta []byte
	_ = jsonscan.Members(body, func(key []byte, start, end int) bool {
		switch string(key) {
		case "type":
			typ, _ = jsonscan.String(body[start:end])
		case "message":
			message = body[start:end]
		case "delta":
			delta = body[start:end]
		}
		return true
	})
	switch {
	case typ == "message_start" && len(message) > 0:
		body = message
	case typ == "message_delta":
		a := endpoint.GenericDialect{}.Answer(body)
		_ = jsonscan.Members(delta, func(key []byte, start, end int) bool {
			if r, ok := jsonscan.String(delta[start:end]); ok && string(key) == "stop_reason" {
				a.FinishReasons = append(a.FinishReasons, r)
			}
			return true
		})
		return a
	}
	return endpoint.GenericDialect{}.Answer(body)
}
