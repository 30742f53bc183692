package anthropic

import (
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
