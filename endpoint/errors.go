package endpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
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

// TransportError is an attempt that got no answer from the upstream: the
// connection was refused or reset, the name did not resolve, the attempt
// timed out, the body could not be read. It is what a call returns when
// its last attempt failed so.
type TransportError struct {
	Endpoint string
	Attempt  int
	Err      error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("endpoint %q: attempt %d: %v", e.Endpoint, e.Attempt, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// Reason is the cause in a few words, without addresses: "connection
// refused", "no such host", "connection reset by peer", "timeout", or the
// error's own text when it is none of those.
func (e *TransportError) Reason() string {
	var dns *net.DNSError
	var errno syscall.Errno
	switch {
	case errors.As(e.Err, &dns) && dns.IsNotFound:
		return "no such host"
	case errors.As(e.Err, &errno):
		return errno.Error()
	case errors.Is(e.Err, context.DeadlineExceeded) || isTimeout(e.Err):
		return "timeout"
	}
	return e.Err.Error()
}

// Addr is the upstream's address (host:port) when the error names it, as
// a dial error does; "" otherwise.
func (e *TransportError) Addr() string {
	var op *net.OpError
	if errors.As(e.Err, &op) && op.Addr != nil {
		return op.Addr.String()
	}
	return ""
}

// ErrTooLarge is matched by every *ReadLimitError.
var ErrTooLarge = errors.New("endpoint: upstream answer over the read limit")

// ReadLimitError is an upstream answer that went past one of the
// endpoint's ReadLimits: What is "answer" (a non-stream body) or "event"
// (one server-sent event, or one of its lines). The connection is closed;
// a call is not retried (the upstream would send the same).
type ReadLimitError struct {
	Endpoint string
	What     string
	Limit    int64
}

func (e *ReadLimitError) Error() string {
	field := "read.max_event_bytes"
	if e.What == "answer" {
		field = "read.max_body_bytes"
	}
	return fmt.Sprintf("endpoint %q: the upstream's %s is over the read limit of %d bytes (%s)", e.Endpoint, e.What, e.Limit, field)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *ReadLimitError) Is(target error) bool { return target == ErrTooLarge }

// ErrNotAStream is matched by every *NotAStreamError.
var ErrNotAStream = errors.New("endpoint: a stream request was not answered with an event stream")

// NotAStreamError is a 2xx answer to a stream request whose Content-Type
// is not text/event-stream (an HTML page from a proxy, a JSON answer to a
// forgotten flag): an upstream error, not an empty stream. It is not
// retried.
type NotAStreamError struct {
	Endpoint    string
	Status      int
	ContentType string // cut to 64 bytes
}

func (e *NotAStreamError) Error() string {
	return fmt.Sprintf("endpoint %q: the upstream answered a stream request %d with Content-Type %q, not text/event-stream",
		e.Endpoint, e.Status, e.ContentType)
}

// Is makes errors.Is(err, ErrNotAStream) true.
func (e *NotAStreamError) Is(target error) bool { return target == ErrNotAStream }

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
	// Attempts is how many requests of the call reached the upstream
	// (AttemptsOf).
	Attempts int
	// Overloaded says the provider is overloaded (its dialect's reading of
	// the status), not that the request was wrong.
	Overloaded bool

	temporary bool
	header    http.Header // the answer's, for the managed client's response
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

// AttemptsOf is how many requests of a failed call or stream reached the
// upstream: its attempts that got an answer or failed after the connection
// was made, net/http's own replays on a dead kept-alive connection
// included; 0 when none did (refused by the limits or the breaker, closed,
// the upstream unreachable). A successful call's is Response.Attempts.
func AttemptsOf(err error) int {
	var se *StatusError
	var re *reachedError
	switch {
	case errors.As(err, &se):
		return se.Attempts
	case errors.As(err, &re):
		return re.reached
	}
	return 0
}

// reachedError carries AttemptsOf's count on a call's error.
type reachedError struct {
	error
	reached int
}

func (e *reachedError) Unwrap() error { return e.error }

// withReached gives err its count of requests that reached the upstream
// (a StatusError carries its own).
func withReached(err error, reached int) error {
	var se *StatusError
	if reached == 0 || errors.As(err, &se) {
		return err
	}
	return &reachedError{error: err, reached: reached}
}
