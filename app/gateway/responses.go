package gateway

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/khive-go/khive/app/gateway/admission"
	"github.com/khive-go/khive/endpoint"
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
	maxTokens int // for a target that needs max_tokens (Anthropic)
	outBound  int // the client's max_output_tokens, -1 for none
	// unsupported is gateway.unsupported_tools: what a chat target does
	// with built-in tools, by alias or endpoint.
	unsupported map[string]string
	items       *itemCache
	key         *admission.Key
}

func readResponses(s *Server, r *http.Request, x *exchange) (clientRequest, *apiError) {
	b, aerr := readTop(r, "input", "stream", "max_output_tokens")
	if aerr != nil {
		return nil, aerr
	}
	q := &responsesRequest{raw: b.raw, modelAt: b.modelAt, modelName: b.model, maxTokens: s.cfg.AnthropicMaxTokens,
		unsupported: s.cfg.UnsupportedTools, items: s.items, key: x.key}
	fields := b.fields
	q.outBound = intField(fields, "max_output_tokens", -1)
	if q.modelName == "" {
		return nil, badRequest("model", "you must provide a model parameter")
	}
	if _, ok := fields["input"]; !ok {
		return nil, badRequest("input", "you must provide an input")
	}
	if v, ok := fields["stream"]; ok {
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
	in, err := q.items.resolve(q.key, req.Input)
	if err != nil {
		return upstreamPlan{}, err
	}
	req.Input = in
	chat, tools, err := translate.ResponsesToChat(req, translate.Options{DropBuiltinTools: dropsBuiltins(q.unsupported, q.modelName, rt)})
	if err != nil {
		return upstreamPlan{}, err
	}
	chat.Model = rt.model
	keep := func(r openai.Response) { q.items.keep(q.key, r.Output) }
	p, err := responsesViaChat(rt, chat, q.maxTokens, tools, keep)
	p.dropped = tools.Dropped
	return p, err
}

// dropsBuiltins reports whether built-in tools are dropped for rt under
// gateway.unsupported_tools: the alias's (model's) setting, else the
// endpoint's, else refuse.
func dropsBuiltins(policy map[string]string, model string, rt route) bool {
	if v, ok := policy[model]; ok {
		return v == "drop"
	}
	return policy[rt.ep.Name()] == "drop"
}

// responsesViaChat plans a translated Responses request for a chat
// endpoint, OpenAI-compatible or Anthropic.
func responsesViaChat(rt route, chat openai.ChatRequest, maxTokens int, tools translate.Translation, keep func(openai.Response)) (upstreamPlan, error) {
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
		mreq, err := translate.ChatToMessages(chat, maxTokens)
		if err != nil {
			return upstreamPlan{}, err
		}
		var tr streamTranslator
		if chat.Stream {
			tr = responsesFromAnthropic{
				a: &translate.ChunksFromAnthropic{IncludeUsage: true, Created: created},
				r: &translate.ResponsesFromChat{Created: created, Tools: tools, Done: keep}}
		}
		return translatedPlan(mreq, tr, func(mr anthropic.MessagesResponse) openai.Response {
			return toResponse(translate.MessagesToChat(mr, created))
		})
	}
	var tr streamTranslator
	if chat.Stream {
		tr = fromChat{&translate.ResponsesFromChat{Created: created, Tools: tools, Done: keep}}
	}
	return translatedPlan(chat, tr, toResponse)
}

// responsesPassThrough relays a responses stream as it is.
type responsesPassThrough struct{}

func (responsesPassThrough) event(ev endpoint.Event) []endpoint.Event { return []endpoint.Event{ev} }
func (responsesPassThrough) end() []endpoint.Event                    { return nil }

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
