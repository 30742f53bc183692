package gateway

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/openai"
	"github.com/khive-go/khive/providers/translate"
)

// messages serves POST /v1/messages in Anthropic's format: passed through
// to Anthropic endpoints, translated for OpenAI-compatible ones.
func (s *Server) messages(w http.ResponseWriter, r *http.Request, x *exchange) *apiError {
	var req anthropic.MessagesRequest
	if aerr := readJSON(r, &req); aerr != nil {
		return aerr
	}
	switch {
	case req.Model == "":
		return badRequest("model", "model: Field required")
	case len(req.Messages) == 0:
		return badRequest("messages", "messages: Field required")
	case req.MaxTokens <= 0:
		return badRequest("max_tokens", "max_tokens: Field required and must be > 0")
	}
	x.model = req.Model
	routes, aerr := s.router.resolve(req.Model, providers.KindMessages, providers.KindChat)
	if aerr != nil {
		return aerr
	}
	// The client's API version and betas go to Anthropic as sent.
	pass := http.Header{}
	for _, h := range []string{"Anthropic-Version", "Anthropic-Beta"} {
		if v := r.Header.Get(h); v != "" {
			pass.Set(h, v)
		}
	}
	ctx := r.Context()
	return s.eachRoute(ctx, routes, x, func(rt route) (bool, error) {
		req.Model = rt.model
		if rt.kind == providers.KindChat {
			return s.messagesViaChat(ctx, w, rt, req, x)
		}
		body, err := json.Marshal(req)
		if err != nil {
			return false, badRequest("", "could not encode the request: %v", err)
		}
		ereq := endpoint.Request{Body: json.RawMessage(body), Headers: pass}
		if req.Stream {
			return s.relay(ctx, w, rt, ereq, x, messagesPassThrough{})
		}
		return s.callAndWrite(ctx, w, rt, ereq, x, nil)
	})
}

// messagesViaChat serves an Anthropic request from an OpenAI-compatible endpoint.
func (s *Server) messagesViaChat(ctx context.Context, w http.ResponseWriter, rt route, req anthropic.MessagesRequest, x *exchange) (bool, error) {
	creq, err := translate.MessagesToChatRequest(req)
	if err != nil {
		return false, err
	}
	body, err := json.Marshal(creq)
	if err != nil {
		return false, err
	}
	ereq := endpoint.Request{Body: json.RawMessage(body)}
	if req.Stream {
		return s.relay(ctx, w, rt, ereq, x, messagesFromChat{&translate.EventsFromChat{}})
	}
	return s.callAndWrite(ctx, w, rt, ereq, x, func(b []byte) ([]byte, error) {
		var resp openai.ChatResponse
		if err := json.Unmarshal(b, &resp); err != nil {
			return nil, err
		}
		return json.Marshal(translate.ChatToMessagesResponse(resp))
	})
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
