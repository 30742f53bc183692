package gateway

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/translate"
	"go.uber.org/zap"
)

// operation is what one proxied API route does, for the gateway's single
// request path (serve): read the client's request in the route's format,
// and name the endpoint kinds that can serve it, best first. The rest is
// the request's own plan for each target.
type operation struct {
	kinds []providers.Kind
	read  func(s *Server, r *http.Request, x *exchange) (clientRequest, *apiError)
}

// clientRequest is a request as read by its operation: the model it asks
// for, and how to ask each target for it.
type clientRequest interface {
	model() string
	// plan builds a target's upstream request and how its answer becomes
	// the client's: relayed through a stream translator, or converted.
	plan(rt route) (upstreamPlan, error)
	// outputBound is the most output the request allows (its max_tokens);
	// false when it sets none.
	outputBound() (int, bool)
}

// upstreamPlan is one target's request and the translation of its answer.
type upstreamPlan struct {
	req endpoint.Request
	// stream, when set, opens a stream and relays it through this.
	stream translate.Stream
	// convert turns a call's answer into the client's format; nil passes
	// it as it is (checked to be JSON).
	convert func([]byte) ([]byte, error)
	// dropped is what the translation left out for this target
	// (unsupported_tools: drop, reasoning: drop).
	dropped translate.Dropped
}

// serve is the request path every proxied route runs, inside the api
// middleware: read, resolve the model to targets, then each target in turn
// (fallback on what another target may answer), calling or relaying.
func (s *Server) serve(op operation) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, x *exchange) *apiError {
		req, aerr := op.read(s, r, x)
		if aerr != nil {
			return aerr
		}
		x.model = req.model()
		routes, aerr := s.resolve(x, x.model, op.kinds...)
		if aerr != nil {
			return aerr
		}
		routes = s.sticky(r, x.model, routes)
		return s.eachRoute(r.Context(), routes, x, func(ctx context.Context, rt route) (committed bool, err error) {
			p, err := req.plan(rt)
			if err != nil {
				return false, err
			}
			s.noteDropped(x, rt, p.dropped)
			c, aerr := s.openCharge(ctx, w, r, x, rt, req)
			if aerr != nil {
				return false, aerr
			}
			if p.stream != nil {
				committed, err = s.relay(ctx, w, rt, p.req, x, p.stream)
			} else {
				committed, err = s.callAndWrite(ctx, w, rt, p.req, x, p.convert)
			}
			s.closeCharge(ctx, w, r, x, &c, committed)
			return committed, err
		})
	}
}

// passThrough plans a request that goes upstream in the client's format:
// its body as the client sent it, byte for byte, with the target's model
// spliced in place of the client's (at model); a stream is relayed
// through tr.
func passThrough(raw []byte, model member, target string, stream bool, tr translate.Stream) (upstreamPlan, error) {
	p := upstreamPlan{req: endpoint.Request{Body: json.RawMessage(withString(raw, model, target))}}
	if stream {
		p.stream = tr
	}
	return p, nil
}

// translatedPlan plans a request translated into the target's format: body
// is what the target gets; a stream (tr set) is relayed through tr, a
// call's answer is decoded as an A and turned into the client's by answer.
func translatedPlan[A, C any](body any, tr translate.Stream, answer func(A) C) (upstreamPlan, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return upstreamPlan{}, err
	}
	p := upstreamPlan{req: endpoint.Request{Body: json.RawMessage(b)}, stream: tr}
	if tr == nil {
		p.convert = func(raw []byte) ([]byte, error) {
			var a A
			if err := json.Unmarshal(raw, &a); err != nil {
				return nil, err
			}
			return json.Marshal(answer(a))
		}
	}
	return p, nil
}

// noteDropped counts and logs, at Debug, what a translation left out.
func (s *Server) noteDropped(x *exchange, rt route, d translate.Dropped) {
	for _, typ := range d.Tools {
		s.metrics.droppedTools.WithLabelValues(rt.ep.Name(), typ).Inc()
	}
	if len(d.Tools) > 0 {
		s.log.Debug("built-in tools the target cannot run were dropped", zap.String("endpoint", rt.ep.Name()),
			zap.String("model", truncate(x.model)), zap.Strings("tools", d.Tools))
	}
	if len(d.Fields) > 0 {
		s.log.Debug("request fields the target cannot take were dropped", zap.String("endpoint", rt.ep.Name()),
			zap.String("model", truncate(x.model)), zap.Strings("fields", d.Fields))
	}
}
