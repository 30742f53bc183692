package endpoint

import (
	"bytes"
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
	// Type, Message and Code come from the provider's error body, read by
	// the endpoint's dialect.
	Type    string
	Message string
	Code    string
	// RetryAfter is the server's wait hint, 0 when none.
	RetryAfter time.Duration
	// Body is the response body, truncated to 4 KiB.
	Body []byte
	// Attempts made before giving up.
	Attempts int
	// Overloaded says the provider is overloaded (its dialect's reading of
	// the status), not that the request was wrong.
	Overloaded bool

	temporary bool
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

// Temporary reports whether the status is one the endpoint's dialect
// holds worth retrying later.
func (e *StatusError) Temporary() bool { return e.temporary }

// newStatusError builds a StatusError, reading the provider's error body
// with d and scrubbing the key should the provider echo it.
func newStatusError(d Dialect, name string, status int, body []byte, retryAfter time.Duration, key Secret) *StatusError {
	if k := key.Reveal(); k != "" && bytes.Contains(body, []byte(k)) {
		body = []byte(key.Scrub(string(body)))
	}
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody]
	}
	e := &StatusError{Endpoint: name, Status: status, Body: body, RetryAfter: retryAfter,
		Overloaded: d.Overloaded(status), temporary: d.Retryable(status)}
	e.Type, e.Message, e.Code, _ = d.ErrorBody(body)
	return e
}
