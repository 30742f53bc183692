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

// chatFields is what the gateway reads of a chat request to route it; the
// rest of the body passes through untouched.
type chatFields struct {
	raw          []byte
	fields       map[string]json.RawMessage
	model        string
	stream       bool
	includeUsage bool
	hasMessages  bool
}

// readChat reads a chat request with one pass over the body: its top-level
// fields stay raw, so a pass-through costs one decode and one encode.
func readChat(r *http.Request) (*chatFields, *apiError) {
	raw, aerr := readBody(r)
	if aerr != nil {
		return nil, aerr
	}
	c := &chatFields{raw: raw}
	if err := json.Unmarshal(raw, &c.fields); err != nil {
		return nil, badRequest("", "could not parse the JSON body: %v", err)
	}
	if m, ok := c.fields["model"]; ok && json.Unmarshal(m, &c.model) != nil {
		return nil, badRequest("model", "model must be a string")
	}
	if m, ok := c.fields["messages"]; ok {
		var msgs []json.RawMessage
		if json.Unmarshal(m, &msgs) != nil {
			return nil, badRequest("messages", "messages must be an array")
		}
		c.hasMessages = len(msgs) > 0
	}
	if v, ok := c.fields["stream"]; ok {
		_ = json.Unmarshal(v, &c.stream)
	}
	if v, ok := c.fields["stream_options"]; ok {
		var so openai.StreamOptions
		_ = json.Unmarshal(v, &so)
		c.includeUsage = so.IncludeUsage
	}
	return c, nil
}

// withModel is the body with the upstream model in place of the client's.
func (c *chatFields) withModel(model string) ([]byte, error) {
	m, _ := json.Marshal(model)
	c.fields["model"] = m
	return json.Marshal(c.fields)
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, x *exchange) *apiError {
	c, aerr := readChat(r)
	if aerr != nil {
		return aerr
	}
	if c.model == "" {
		return badRequest("model", "you must provide a model parameter")
	}
	if !c.hasMessages {
		return badRequest("messages", "messages must be a non-empty array")
	}
	x.model = c.model
	routes, aerr := s.resolve(x, c.model, providers.KindChat, providers.KindMessages)
	if aerr != nil {
		return aerr
	}
	ctx := r.Context()
	return s.eachRoute(ctx, routes, x, func(ctx context.Context, rt route) (bool, error) {
		if rt.kind == providers.KindMessages {
			// The fields read for routing are decoded into the typed request
			// where they lie: the body is not read a second time.
			req, err := openai.ChatRequestFromFields(c.fields)
			if err != nil {
				return false, badRequest("", "could not parse the JSON body: %v", err)
			}
			req.Model = rt.model
			return s.chatViaAnthropic(ctx, w, rt, req, c.includeUsage, x)
		}
		body, err := c.withModel(rt.model)
		if err != nil {
			return false, badRequest("", "could not encode the request: %v", err)
		}
		ereq := endpoint.Request{Body: json.RawMessage(body)}
		if c.stream {
			return s.relay(ctx, w, rt, ereq, x, chatPassThrough{})
		}
		return s.callAndWrite(ctx, w, rt, ereq, x, nil)
	})
}

// chatViaAnthropic serves a chat request from an Anthropic endpoint.
func (s *Server) chatViaAnthropic(ctx context.Context, w http.ResponseWriter, rt route, req openai.ChatRequest, includeUsage bool, x *exchange) (bool, error) {
	mreq, err := translate.ChatToMessages(req, s.cfg.AnthropicMaxTokens)
	if err != nil {
		return false, err
	}
	body, err := json.Marshal(mreq)
	if err != nil {
		return false, err
	}
	ereq := endpoint.Request{Body: json.RawMessage(body)}
	if req.Stream {
		tr := chatFromAnthropic{&translate.ChunksFromAnthropic{IncludeUsage: includeUsage, Created: time.Now().Unix()}}
		return s.relay(ctx, w, rt, ereq, x, tr)
	}
	return s.callAndWrite(ctx, w, rt, ereq, x, func(b []byte) ([]byte, error) {
		var resp anthropic.MessagesResponse
		if err := json.Unmarshal(b, &resp); err != nil {
			return nil, err
		}
		return json.Marshal(translate.MessagesToChat(resp, time.Now().Unix()))
	})
}
