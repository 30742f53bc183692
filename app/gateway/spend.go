package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/khive-go/khive/app/gateway/admission"
)

// How a request's cost was known, for the access log and metrics.
const (
	costFromUsage = "usage"    // the usage the answer reported
	costEstimated = "estimate" // no usage reported: its body's tokens in, what was streamed out
	costUnknown   = "unknown"  // the model has no price
)

// charge is one target's cost accounting: its price and what is held
// against the key's budgets while it runs.
type charge struct {
	price  admission.Price
	priced bool
	hold   *admission.Hold
	sent   int64 // bytes written to the client before the target ran
}

// priceOf is what rt's tokens cost: its alias target's own price, else
// gateway.prices for ENDPOINT/MODEL or ENDPOINT, else the shipped table
// for the endpoint's provider; false when none says.
func (s *Server) priceOf(rt route) (admission.Price, bool) {
	if rt.price != nil {
		return *rt.price, true
	}
	if len(s.cfg.Prices) > 0 { // else no key to build on every request
		name := rt.ep.Name()
		if p, ok := s.cfg.Prices[name+"/"+rt.model]; ok {
			return p, true
		}
		if p, ok := s.cfg.Prices[name]; ok {
			return p, true
		}
	}
	return admission.ShippedPrice(rt.ep.Config().Provider, rt.model)
}

// openCharge prices the target and, for a key with a budget, holds the
// request's worst case against it: its body's tokens at the input price
// plus its max_tokens (or budget_max_tokens) at the output price. A key
// with a budget may not use a model without a price.
func (s *Server) openCharge(ctx context.Context, w http.ResponseWriter, r *http.Request, x *exchange, rt route, req clientRequest) (charge, *apiError) {
	var c charge
	c.price, c.priced = s.priceOf(rt)
	if sw, ok := w.(*statusWriter); ok {
		c.sent = sw.sent
	}
	x.inTokens, x.outTokens, x.cachedTokens, x.cacheWriteTokens = -1, -1, 0, 0 // this target's usage only
	if !x.key.Budgeted() {
		return c, nil
	}
	if !c.priced {
		return c, &apiError{status: http.StatusForbidden, typ: "permission_error", code: "price_unknown", param: "model",
			message: fmt.Sprintf("key %s has a budget, and model %q of endpoint %q has no price: give it one in gateway.prices",
				x.key.Name(), truncate(rt.model), rt.ep.Name())}
	}
	out, ok := req.outputBound()
	if !ok {
		out = s.cfg.BudgetMaxTokens
	}
	worst := c.price.Cost(admission.Usage{Input: estimateTokens(r), Output: out})
	h, err := s.store.Reserve(ctx, x.key, worst)
	if err != nil {
		return c, admissionError(err)
	}
	c.hold = h
	return c, nil
}

// closeCharge settles the target's cost: from the usage its answer
// reported, else (an answer was given) estimated from the request's
// tokens and the bytes streamed out; nothing when it served nothing.
func (s *Server) closeCharge(ctx context.Context, w http.ResponseWriter, r *http.Request, x *exchange, c *charge, committed bool) {
	var u admission.Usage
	basis := ""
	switch {
	case x.inTokens >= 0:
		u = admission.Usage{Input: x.inTokens, CachedInput: x.cachedTokens, CacheWrite: x.cacheWriteTokens, Output: max(0, x.outTokens)}
		basis = costFromUsage
	case committed:
		var sent int64
		if sw, ok := w.(*statusWriter); ok {
			sent = sw.sent - c.sent
		}
		u = admission.Usage{Input: estimateTokens(r), Output: int(sent / 4)}
		basis = costEstimated
	}
	cost := 0.0
	if c.priced {
		cost = c.price.Cost(u)
	} else if basis != "" {
		basis = costUnknown
	}
	c.hold.Settle(cost)
	if basis == "" {
		return
	}
	x.costUSD += cost
	if x.costBasis != costUnknown {
		x.costBasis = basis
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attribute.Float64("khive.cost_usd", cost), attribute.String("khive.cost", basis))
	}
}

// spending answers GET /v1/khive/spend: every budget's period, spent,
// held and limit, for keys with admin: true only.
func (s *Server) spending(w http.ResponseWriter, r *http.Request, x *exchange) *apiError {
	if !x.key.Admin() {
		return &apiError{status: http.StatusForbidden, typ: "permission_error", code: "admin_only",
			message: "only a key with admin: true may read spend"}
	}
	list, err := s.store.Spending(r.Context(), s.keys)
	if err != nil {
		return &apiError{status: http.StatusServiceUnavailable, typ: "server_error", code: "store_unavailable",
			message: "the gateway cannot read spend right now", header: retryAfter(time.Second)}
	}
	if list == nil {
		list = []admission.Spending{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Object string               `json:"object"`
		Data   []admission.Spending `json:"data"`
	}{"list", list})
	return nil
}
