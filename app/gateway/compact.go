package gateway

import (
	"net/http"
	"path"

	"github.com/khive-go/khive/providers"
)

// compactOp serves POST /v1/responses/compact (the Responses API's
// context compaction, which Codex calls): passed through to OpenAI
// responses endpoints; any other target is a 400 saying so, since
// compaction needs the provider's own state.
var compactOp = operation{kinds: []providers.Kind{providers.KindResponses, providers.KindChat, providers.KindMessages}, read: readCompact}

type compactRequest struct {
	raw       []byte
	modelAt   member
	modelName string
}

func readCompact(_ *Server, r *http.Request, _ *exchange) (clientRequest, *apiError) {
	b, aerr := readTop(r)
	if aerr != nil {
		return nil, aerr
	}
	if b.model == "" {
		return nil, badRequest("model", "you must provide a model parameter")
	}
	return &compactRequest{raw: b.raw, modelAt: b.modelAt, modelName: b.model}, nil
}

func (c *compactRequest) model() string { return c.modelName }

func (c *compactRequest) outputBound() (int, bool) { return 0, false }

func (c *compactRequest) plan(rt route) (upstreamPlan, error) {
	if rt.kind != providers.KindResponses {
		return upstreamPlan{}, badRequest("model", "POST /v1/responses/compact needs an OpenAI responses endpoint; %q is served by endpoint %q, which speaks %s",
			truncate(c.modelName), rt.ep.Name(), rt.kind)
	}
	p, err := passThrough(c.raw, c.modelAt, rt.model, false, nil)
	p.req.Path = path.Join(rt.ep.Config().Path, "compact")
	return p, err
}
