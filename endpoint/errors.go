package endpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrClosed is returned once Stop has begun.
	ErrClosed = errors.New("endpoint: closed")
	// ErrNotStarted is returned before Start.
	ErrNotStarted = errors.New("endpoint: not started")
	// ErrCircuitOpen is matched by every *CircuitOpenError.
	ErrCircuitOpen = errors.New("endpoint: circuit open")
)

// CircuitOpenError says the breaker refused the call and for how long it
// stays open.
type CircuitOpenError struct {
	Endpoint  string
	Remaining time.Duration
}

func (e *CircuitOpenError) Error() string {
	return fmt.Sprintf("endpoint %q: circuit open for another %v", e.Endpoint, e.Remaining.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrCircuitOpen) true.
func (e *CircuitOpenError) Is(target error) bool { return target == ErrCircuitOpen }

// maxErrorBody bounds the body kept in a StatusError.
const maxErrorBody = 4 << 10

// StatusError is a non-2xx answer from the provider.
type StatusError struct {
	Endpoint string
	Status   int
	// Type, Message and Code come from an OpenAI ({"error":{...}}) or
	// Anthropic ({"type":"error","error":{...}}) error body when present.
	Type    string
	Message string
	Code    string
	// RetryAfter is the server's wait hint, 0 when none.
	RetryAfter time.Duration
	// Body is the response body, truncated to 4 KiB.
	Body []byte
	// Attempts made before giving up.
	Attempts int
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "endpoint %q: status %d", e.Endpoint, e.Status)
	if e.Type != "" {
		b.WriteString(": " + e.Type)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %v)", e.RetryAfter)
	}
	return b.String()
}

// Temporary reports whether the status is one worth retrying later.
func (e *StatusError) Temporary() bool { return retryableStatus(e.Status) }

// newStatusError builds a StatusError, parsing the provider's error body and
// scrubbing the key should the provider echo it.
func newStatusError(name string, status int, body []byte, retryAfter time.Duration, key string) *StatusError {
	if key != "" {
		body = []byte(strings.ReplaceAll(string(body), key, redacted))
	}
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody]
	}
	e := &StatusError{Endpoint: name, Status: status, Body: body, RetryAfter: retryAfter}
	e.Type, e.Message, e.Code = parseErrorBody(body)
	return e
}

// parseErrorBody reads {"error":{"message","type","code"}} (OpenAI) and
// {"type":"error","error":{"type","message"}} (Anthropic), and a bare
// {"error":"message"}.
func parseErrorBody(body []byte) (typ, msg, code string) {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || len(env.Error) == 0 {
		return "", "", ""
	}
	var inner struct {
		Type    string          `json:"type"`
		Message string          `json:"message"`
		Code    json.RawMessage `json:"code"`
	}
	if json.Unmarshal(env.Error, &inner) == nil {
		code := strings.Trim(string(inner.Code), `"`)
		if code == "null" {
			code = ""
		}
		return inner.Type, inner.Message, code
	}
	var s string
	if json.Unmarshal(env.Error, &s) == nil {
		return "", s, ""
	}
	return "", "", ""
}
