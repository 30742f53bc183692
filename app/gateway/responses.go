package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/khive-go/khive/app/gateway/admission"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/openai"
	"github.com/khive-go/khive/providers/translate"
)

// responsesOp serves POST /v1/responses: passed through to OpenAI
// responses endpoints, translated for chat endpoints (OpenAI-compatible or
// Anthropic), plain and streaming.
var responsesOp = operation{
	kinds: []providers.Kind{providers.KindResponses, providers.KindChat, providers.KindMessages},
	read:  readResponses,
}

type responsesRequest struct {
	raw       []byte
	modelAt   member // the model's value in raw
	modelName string
	stream    bool
	outBound  int // the client's max_output_tokens, -1 for none
	tr        translation
	items     items
	key       *admission.Key
	// ctx is the request's, for the item store's round trips in plan.
	ctx context.Context
}

func readResponses(s *Server, r *http.Request, x *exchange) (clientRequest, *apiError) {
	b, aerr := readTop(r, "input", "stream", "max_output_tokens")
	if aerr != nil {
		return nil, aerr
	}
	q := &responsesRequest{raw: b.raw, modelAt: b.modelAt, modelName: b.model,
		tr: s.translation(), items: s.items, key: x.key, ctx: r.Context()}
	fields := &b.fields
	q.outBound = intField(fields, "max_output_tokens", -1)
	if q.modelName == "" {
		return nil, badRequest("model", "you must provide a model parameter")
	}
	if _, ok := fields.get("input"); !ok {
		return nil, badRequest("input", "you must provide an input")
	}
	if v, ok := fields.get("stream"); ok {
		_ = json.Unmarshal(v.value, &q.stream)
	}
	return q, nil
}

func (q *responsesRequest) model() string { return q.modelName }

func (q *responsesRequest) outputBound() (int, bool) { return q.outBound, q.outBound >= 0 }

func (q *responsesRequest) plan(rt route) (upstreamPlan, error) {
	if rt.kind == providers.KindResponses {
		return passThrough(q.raw, q.modelAt, rt.model, q.stream, responsesPassThrough{})
	}
	var req openai.ResponsesRequest
	if err := json.Unmarshal(q.raw, &req); err != nil {
		return upstreamPlan{}, badRequest("", "could not parse the JSON body: %v", err)
	}
	in, err := q.items.resolve(q.ctx, q.key, req.Input)
	if err != nil {
		return upstreamPlan{}, err
	}
	req.Input = in
	opts := q.tr.options(q.modelName, rt)
	chat, tools, err := translate.ResponsesToChat(req, opts)
	if err != nil {
		return upstreamPlan{}, err
	}
	chat.Model = rt.model
	keep := func(r openai.Response) { q.items.keep(q.ctx, q.key, r.Output) }
	return responsesViaChat(rt, chat, opts, tools, keep)
}

// responsesViaChat plans a translated Responses request for a chat
// endpoint, OpenAI-compatible or Anthropic.
func responsesViaChat(rt route, chat openai.ChatRequest, opts translate.Options, tools translate.Translation, keep func(openai.Response)) (upstreamPlan, error) {
	created := time.Now().Unix()
	toResponse := func(cr openai.ChatResponse) openai.Response {
		r := translate.ChatToResponse(cr, created, tools)
		keep(r)
		return r
	}
	if rt.kind == providers.KindMessages {
		if _, ok := chat.Extra["response_format"]; ok {
			return upstreamPlan{}, &translate.Error{Field: "text.format", Message: "a JSON format cannot be enforced on a model served by Anthropic"}
		}
		mreq, dropped, err := translate.ChatToMessages(chat, opts)
		if err != nil {
			return upstreamPlan{}, err
		}
		var tr translate.Stream
		if chat.Stream {
			tr = translate.Chain(&translate.ChunksFromAnthropic{IncludeUsage: true, Created: created},
				&translate.ResponsesFromChat{Created: created, Tools: tools, Done: keep})
		}
		p, err := translatedPlan(mreq, tr, func(mr anthropic.MessagesResponse) openai.Response {
			return toResponse(translate.MessagesToChat(mr, created))
		})
		p.dropped = tools.Dropped
		p.dropped.Tools = append(p.dropped.Tools, dropped.Tools...)
		p.dropped.Fields = append(p.dropped.Fields, dropped.Fields...)
		return p, err
	}
	var tr translate.Stream
	if chat.Stream {
		tr = &translate.ResponsesFromChat{Created: created, Tools: tools, Done: keep}
	}
	p, err := translatedPlan(chat, tr, toResponse)
	p.dropped = tools.Dropped
	return p, err
}
