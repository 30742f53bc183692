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
	routes, aerr := s.resolve(x, req.Model, providers.KindMessages, providers.KindChat)
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
	return s.eachRoute(ctx, routes, x, func(ctx context.Context, rt route) (bool, error) {
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
