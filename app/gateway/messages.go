package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/translate"
)

// messagesOp serves POST /v1/messages in Anthropic's format: passed
// through to Anthropic endpoints, translated for OpenAI-compatible ones.
var messagesOp = operation{kinds: []providers.Kind{providers.KindMessages, providers.KindChat}, read: readMessages}

type messagesRequest struct {
	req  anthropic.MessagesRequest
	pass http.Header // the client's API version and betas, for Anthropic as sent
	tr   translation
}

func readMessages(s *Server, r *http.Request, _ *exchange) (clientRequest, *apiError) {
	m := &messagesRequest{tr: s.translation()}
	if aerr := readJSON(r, &m.req); aerr != nil {
		return nil, aerr
	}
	switch {
	case m.req.Model == "":
		return nil, badRequest("model", "model: Field required")
	case len(m.req.Messages) == 0:
		return nil, badRequest("messages", "messages: Field required")
	case m.req.MaxTokens <= 0:
		return nil, badRequest("max_tokens", "max_tokens: Field required and must be > 0")
	}
	m.pass = anthropicHeaders(r)
	return m, nil
}

// anthropicHeaders are the client's headers an Anthropic upstream is given
// as they came, every value: the API version, the betas (an open list:
// agents send betas newer than any list here), and Claude Code's session.
func anthropicHeaders(r *http.Request) http.Header {
	h := http.Header{}
	for _, k := range []string{"Anthropic-Version", "Anthropic-Beta", "X-Claude-Code-Session-Id"} {
		if vs := r.Header.Values(k); len(vs) > 0 {
			h[k] = vs
		}
	}
	return h
}

func (m *messagesRequest) model() string { return m.req.Model }

func (m *messagesRequest) outputBound() (int, bool) { return m.req.MaxTokens, true }

func (m *messagesRequest) plan(rt route) (upstreamPlan, error) {
	req := m.req
	req.Model = rt.model
	if rt.kind == providers.KindChat {
		return messagesViaChat(req, m.tr.options(m.req.Model, rt))
	}
	body, err := json.Marshal(req)
	if err != nil {
		return upstreamPlan{}, badRequest("", "could not encode the request: %v", err)
	}
	p := upstreamPlan{req: endpoint.Request{Body: json.RawMessage(body), Headers: m.pass}}
	if req.Stream {
		p.stream = messagesPassThrough{}
	}
	return p, nil
}

// messagesViaChat plans an Anthropic request for an OpenAI-compatible endpoint.
func messagesViaChat(req anthropic.MessagesRequest, opts translate.Options) (upstreamPlan, error) {
	creq, dropped, err := translate.MessagesToChatRequest(req, opts)
	if err != nil {
		return upstreamPlan{}, err
	}
	var tr translate.Stream
	if req.Stream {
		tr = &translate.EventsFromChat{}
	}
	p, err := translatedPlan(creq, tr, translate.ChatToMessagesResponse)
	p.dropped = dropped
	return p, err
}
