package gateway

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/openai"
	"github.com/khive-go/khive/providers/translate"
)

// clientFormat is the wire format a route speaks to its clients: how its
// errors are written, as an answer and in-band in a stream. Every API route
// runs the same pipeline with its format: the middleware (api: drain check,
// auth, body limits, timeout, access log, metrics), then for proxied routes
// serve with the route's operation (reading the request, resolving it,
// each target in turn with the request's plan: a call, or a relayed stream
// through a translator when the target speaks the other format; fallback),
// and the error in the route's format.
type clientFormat struct {
	name        string
	writeError  func(http.ResponseWriter, *apiError)
	streamError func(error) []translate.Event
}

var (
	openAIFormat    = &clientFormat{name: "openai", writeError: writeError, streamError: openAIErrorData}
	anthropicFormat = &clientFormat{name: "anthropic", writeError: writeAnthropicError, streamError: anthropicErrorData}
	// responsesFormat answers errors as OpenAI does, and in a stream as the
	// Responses API's error event.
	responsesFormat = &clientFormat{name: "responses", writeError: writeError, streamError: responsesErrorData}
)

func responsesErrorData(err error) []translate.Event {
	typ, msg := streamFailure(err)
	b, _ := json.Marshal(map[string]any{"type": "error", "code": typ, "message": msg, "param": nil})
	return []translate.Event{{Event: "error", Data: string(b)}}
}

// writeError answers in OpenAI's error format. An OpenAI-compatible
// upstream's own error body, its status kept, passes through unchanged
// (its param and code included: agents match on them).
func writeError(w http.ResponseWriter, e *apiError) {
	for k, vs := range e.header {
		w.Header()[k] = vs
	}
	if se := e.upstream; se != nil && se.Status == e.status && isOpenAIError(se.Body) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(se.Status)
		_, _ = w.Write(se.Body)
		return
	}
	body := openai.ErrorBody{Error: openai.ErrorDetail{Message: e.message, Type: e.typ}}
	if e.param != "" {
		body.Error.Param = &e.param
	}
	if e.code != "" {
		body.Error.Code = &e.code
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(body)
}

// writeAnthropicError answers in Anthropic's error format. An Anthropic
// upstream's own error body passes through unchanged.
func writeAnthropicError(w http.ResponseWriter, e *apiError) {
	for k, vs := range e.header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "application/json")
	if se := e.upstream; se != nil && isAnthropicError(se.Body) {
		w.WriteHeader(se.Status)
		_, _ = w.Write(se.Body)
		return
	}
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(anthropic.ErrorBody{Type: "error",
		Error: anthropic.Error{Type: anthropicErrorType(e.status), Message: e.message}})
}

// isOpenAIError says body is a whole OpenAI error body: {"error": {…,
// "message": …}} (one cut at the kept length is not).
func isOpenAIError(body []byte) bool {
	var b struct {
		Error *struct {
			Message *string `json:"message"`
		} `json:"error"`
	}
	return json.Unmarshal(body, &b) == nil && b.Error != nil && b.Error.Message != nil
}

func isAnthropicError(body []byte) bool {
	var b struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(body, &b) == nil && b.Type == "error"
}

// anthropicErrorType is Anthropic's error type for a status.
func anthropicErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusServiceUnavailable, 529:
		return "overloaded_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	}
	return "api_error"
}

// streamFailure describes a stream error for the client.
func streamFailure(err error) (typ, msg string) {
	var se *endpoint.StreamError
	switch {
	case errors.As(err, &se):
		return cmp.Or(se.Type, "upstream_error"), cmp.Or(se.Message, "the upstream stream failed")
	case errors.Is(err, errShutdown):
		return "server_error", errShutdown.Error()
	}
	return "upstream_error", "the upstream stream was cut"
}

func openAIErrorData(err error) []translate.Event {
	typ, msg := streamFailure(err)
	b, _ := json.Marshal(openai.ErrorBody{Error: openai.ErrorDetail{Message: msg, Type: typ}})
	return []translate.Event{{Data: string(b)}}
}

func anthropicErrorData(err error) []translate.Event {
	typ, msg := streamFailure(err)
	if typ == "upstream_error" || typ == "server_error" {
		typ = "api_error"
	}
	b, _ := json.Marshal(anthropic.ErrorBody{Type: "error", Error: anthropic.Error{Type: typ, Message: msg}})
	return []translate.Event{{Event: "error", Data: string(b)}}
}
