package gateway

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/khive-go/khive/internal/jsonscan"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/openai"
	"github.com/khive-go/khive/providers/translate"
)

// chatOp serves POST /v1/chat/completions: passed through to
// OpenAI-compatible endpoints, translated for Anthropic ones.
var chatOp = operation{kinds: []providers.Kind{providers.KindChat, providers.KindMessages}, read: readChatRequest}

// chatFields is what the gateway reads of a chat request to route it; the
// rest of the body passes through untouched.
type chatFields struct {
	raw          []byte
	modelAt      member // the model's value in raw
	modelName    string
	stream       bool
	includeUsage bool
	hasMessages  bool
	outBound     int // the client's max_completion_tokens or max_tokens, -1 for none
	tr           translation
}

func readChatRequest(s *Server, r *http.Request, _ *exchange) (clientRequest, *apiError) {
	c, aerr := readChat(r)
	switch {
	case aerr != nil:
		return nil, aerr
	case c.modelName == "":
		return nil, badRequest("model", "you must provide a model parameter")
	case !c.hasMessages:
		return nil, badRequest("messages", "messages must be a non-empty array")
	}
	c.tr = s.translation()
	return c, nil
}

// readChat reads a chat request with one pass over the body: the fields
// that route it are found in place, the rest stays as the client sent it.
func readChat(r *http.Request) (*chatFields, *apiError) {
	b, aerr := readTop(r, "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens")
	if aerr != nil {
		return nil, aerr
	}
	c := &chatFields{raw: b.raw, modelAt: b.modelAt, modelName: b.model}
	fields := &b.fields
	c.outBound = intField(fields, "max_completion_tokens", intField(fields, "max_tokens", -1))
	if m, ok := fields.get("messages"); ok {
		// Valid JSON already: an array is '[' and, unless empty, more.
		if m.value[0] != '[' {
			return nil, badRequest("messages", "messages must be an array")
		}
		c.hasMessages = m.value[jsonscan.SkipSpace(m.value, 1)] != ']'
	}
	if v, ok := fields.get("stream"); ok {
		_ = json.Unmarshal(v.value, &c.stream)
	}
	if v, ok := fields.get("stream_options"); ok {
		var so openai.StreamOptions
		_ = json.Unmarshal(v.value, &so)
		c.includeUsage = so.IncludeUsage
	}
	return c, nil
}

func (c *chatFields) model() string { return c.modelName }

func (c *chatFields) outputBound() (int, bool) { return c.outBound, c.outBound >= 0 }

func (c *chatFields) plan(rt route) (upstreamPlan, error) {
	if rt.kind == providers.KindMessages {
		var req openai.ChatRequest
		if err := json.Unmarshal(c.raw, &req); err != nil {
			return upstreamPlan{}, badRequest("", "could not parse the JSON body: %v", err)
		}
		req.Model = rt.model
		return chatViaAnthropic(req, c.includeUsage, c.tr.options(c.modelName, rt))
	}
	return passThrough(c.raw, c.modelAt, rt.model, c.stream, chatPassThrough{})
}

// chatViaAnthropic plans a chat request for an Anthropic endpoint.
func chatViaAnthropic(req openai.ChatRequest, includeUsage bool, opts translate.Options) (upstreamPlan, error) {
	mreq, dropped, err := translate.ChatToMessages(req, opts)
	if err != nil {
		return upstreamPlan{}, err
	}
	var tr translate.Stream
	if req.Stream {
		tr = &translate.ChunksFromAnthropic{IncludeUsage: includeUsage, Created: time.Now().Unix()}
	}
	p, err := translatedPlan(mreq, tr, func(r anthropic.MessagesResponse) openai.ChatResponse {
		return translate.MessagesToChat(r, time.Now().Unix())
	})
	p.dropped = dropped
	return p, err
}
