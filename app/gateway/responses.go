package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/openai"
	"github.com/khive-go/khive/providers/translate"
)

// responses serves POST /v1/responses: passed through to OpenAI responses
// endpoints, translated for chat endpoints (OpenAI-compatible or
// Anthropic), plain and streaming.
func (s *Server) responses(w http.ResponseWriter, r *http.Request, x *exchange) *apiError {
	raw, aerr := readBody(r)
	if aerr != nil {
		return aerr
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return badRequest("", "could not parse the JSON body: %v", err)
	}
	var model string
	if m, ok := fields["model"]; ok && json.Unmarshal(m, &model) != nil {
		return badRequest("model", "model must be a string")
	}
	if model == "" {
		return badRequest("model", "you must provide a model parameter")
	}
	if _, ok := fields["input"]; !ok {
		return badRequest("input", "you must provide an input")
	}
	var stream bool
	if v, ok := fields["stream"]; ok {
		_ = json.Unmarshal(v, &stream)
	}
	x.model = model
	routes, aerr := s.resolve(x, model, providers.KindResponses, providers.KindChat, providers.KindMessages)
	if aerr != nil {
		return aerr
	}
	ctx := r.Context()
	return s.eachRoute(ctx, routes, x, func(ctx context.Context, rt route) (bool, error) {
		if rt.kind == providers.KindResponses {
			m, _ := json.Marshal(rt.model)
			fields["model"] = m
			body, err := json.Marshal(fields)
			if err != nil {
				return false, badRequest("", "could not encode the request: %v", err)
			}
			ereq := endpoint.Request{Body: json.RawMessage(body)}
			if stream {
				return s.relay(ctx, w, rt, ereq, x, responsesPassThrough{})
			}
			return s.callAndWrite(ctx, w, rt, ereq, x, nil)
		}
		req, err := openai.ResponsesRequestFromFields(fields)
		if err != nil {
			return false, badRequest("", "could not parse the JSON body: %v", err)
		}
		chat, err := translate.ResponsesToChat(req)
		if err != nil {
			return false, err
		}
		chat.Model = rt.model
		return s.responsesViaChat(ctx, w, rt, chat, x)
	})
}

// responsesViaChat serves a translated Responses request from a chat
// endpoint, OpenAI-compatible or Anthropic.
func (s *Server) responsesViaChat(ctx context.Context, w http.ResponseWriter, rt route, chat openai.ChatRequest, x *exchange) (bool, error) {
	created := time.Now().Unix()
	toResponse := func(cr openai.ChatResponse) ([]byte, error) {
		return json.Marshal(translate.ChatToResponse(cr, created))
	}
	if rt.kind == providers.KindMessages {
		if _, ok := chat.Extra["response_format"]; ok {
			return false, &translate.Error{Field: "text.format", Message: "a JSON format cannot be enforced on a model served by Anthropic"}
		}
		mreq, err := translate.ChatToMessages(chat, s.cfg.AnthropicMaxTokens)
		if err != nil {
			return false, err
		}
		body, err := json.Marshal(mreq)
		if err != nil {
			return false, err
		}
		ereq := endpoint.Request{Body: json.RawMessage(body)}
		if chat.Stream {
			return s.relay(ctx, w, rt, ereq, x, responsesFromAnthropic{
				a: &translate.ChunksFromAnthropic{IncludeUsage: true, Created: created},
				r: &translate.ResponsesFromChat{Created: created}})
		}
		return s.callAndWrite(ctx, w, rt, ereq, x, func(b []byte) ([]byte, error) {
			var mr anthropic.MessagesResponse
			if err := json.Unmarshal(b, &mr); err != nil {
				return nil, err
			}
			return toResponse(translate.MessagesToChat(mr, created))
		})
	}
	body, err := json.Marshal(chat)
	if err != nil {
		return false, err
	}
	ereq := endpoint.Request{Body: json.RawMessage(body)}
	if chat.Stream {
		return s.relay(ctx, w, rt, ereq, x, responsesFromChat{&translate.ResponsesFromChat{Created: created}})
	}
	return s.callAndWrite(ctx, w, rt, ereq, x, func(b []byte) ([]byte, error) {
		var cr openai.ChatResponse
		if err := json.Unmarshal(b, &cr); err != nil {
			return nil, err
		}
		return toResponse(cr)
	})
}

// responsesPassThrough relays a responses stream as it is.
type responsesPassThrough struct{}

func (responsesPassThrough) event(ev endpoint.Event) []endpoint.Event { return []endpoint.Event{ev} }
func (responsesPassThrough) end() []endpoint.Event                    { return nil }

// responsesFromChat turns chat chunks into Responses events.
type responsesFromChat struct{ t *translate.ResponsesFromChat }

func (r responsesFromChat) event(ev endpoint.Event) []endpoint.Event {
	var c openai.ChatChunk
	if json.Unmarshal([]byte(ev.Data), &c) != nil {
		return nil
	}
	return r.t.Chunk(c)
}
func (r responsesFromChat) end() []endpoint.Event { return r.t.End() }

// responsesFromAnthropic turns Anthropic events into chat chunks, and
// those into Responses events.
type responsesFromAnthropic struct {
	a *translate.ChunksFromAnthropic
	r *translate.ResponsesFromChat
}

func (t responsesFromAnthropic) event(ev endpoint.Event) []endpoint.Event {
	var e anthropic.StreamEvent
	if json.Unmarshal([]byte(ev.Data), &e) != nil {
		return nil
	}
	var out []endpoint.Event
	for _, c := range t.a.Event(e) {
		out = append(out, t.r.Chunk(c)...)
	}
	return out
}
func (t responsesFromAnthropic) end() []endpoint.Event { return t.r.End() }
