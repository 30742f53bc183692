package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers"
)

// countTokens serves POST /v1/messages/count_tokens in Anthropic's format:
// passed through to an Anthropic endpoint (the model spliced in, its
// anthropic-version and betas forwarded), and for an OpenAI-compatible
// target, which has no such call, answered here with an estimate: a
// quarter of the bytes of the request's system, messages and tools, as
// sent (the estimate khive's token limits use).
func (s *Server) countTokens(w http.ResponseWriter, r *http.Request, x *exchange) *apiError {
	b, aerr := readTop(r, "system", "messages", "tools")
	if aerr != nil {
		return aerr
	}
	switch m, ok := b.fields.get("messages"); {
	case b.model == "":
		return badRequest("model", "model: Field required")
	case !ok || m.value[0] != '[':
		return badRequest("messages", "messages: Field required")
	}
	x.model = b.model
	routes, aerr := s.resolve(x, x.model, providers.KindMessages, providers.KindChat)
	if aerr != nil {
		return aerr
	}
	pass := anthropicHeaders(r)
	return s.eachRoute(r.Context(), routes, x, func(ctx context.Context, rt route) (bool, error) {
		if rt.kind != providers.KindMessages {
			n := 0
			for _, f := range []string{"system", "messages", "tools"} {
				m, _ := b.fields.get(f)
				n += len(m.value)
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Khive-Endpoint", rt.ep.Name())
			w.Header().Set("X-Khive-Estimate", "true")
			_ = json.NewEncoder(w).Encode(map[string]int{"input_tokens": max(1, (n+3)/4)})
			return true, nil
		}
		req := endpoint.Request{Body: json.RawMessage(withString(b.raw, b.modelAt, rt.model)), Headers: pass,
			Path: strings.TrimSuffix(rt.ep.Config().Path, "/") + "/count_tokens"}
		return s.callAndWrite(ctx, w, rt, req, x, nil)
	})
}

// messagesNotFound answers any other /v1/messages/… path in Anthropic's
// format, as the agents that call them parse it.
func messagesNotFound(_ http.ResponseWriter, r *http.Request, _ *exchange) *apiError {
	return &apiError{status: http.StatusNotFound, typ: "not_found_error", message: "Not found: " + truncate(r.URL.Path)}
}
