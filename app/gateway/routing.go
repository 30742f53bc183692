package gateway

import (
	"hash/fnv"
	"net/http"
	"slices"
	"strings"

	"github.com/khive-go/khive/app/gateway/admission"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/fxmodule"
	"github.com/khive-go/khive/providers"
)

// route is one place a request can go.
type route struct {
	ep    *endpoint.Endpoint
	model string           // the upstream model name
	kind  providers.Kind   // what the endpoint speaks
	price *admission.Price // the alias target's own price, nil for none
}

// router resolves a request's model to routes for a kind of endpoint.
type router struct {
	reg     *fxmodule.Registry
	aliases map[string][]Target
}

// kindOf is what an endpoint serves: its config's kind (the catalog fills
// it); for a full config without one, guessed from its path as before.
func kindOf(cfg endpoint.Config) providers.Kind {
	if cfg.Kind != "" {
		return providers.Kind(cfg.Kind)
	}
	p := strings.TrimRight(cfg.Path, "/")
	switch {
	case strings.HasSuffix(p, "chat/completions"):
		return providers.KindChat
	case strings.HasSuffix(p, "embeddings"):
		return providers.KindEmbeddings
	case strings.HasSuffix(p, "messages"):
		return providers.KindMessages
	case strings.HasSuffix(p, "search"):
		return providers.KindSearch
	}
	return ""
}

// resolve finds the routes for model among endpoints of the given kinds
// (a route's kinds: the ones it speaks and the ones it translates to): an
// alias, else ENDPOINT/MODEL, else PROVIDER/MODEL when exactly one endpoint
// of that provider serves the route. An unknown model is a 404; a
// PROVIDER/MODEL that several endpoints could serve is a 400 naming them.
func (r *router) resolve(model string, kinds ...providers.Kind) ([]route, *apiError) {
	serves := func(e *endpoint.Endpoint) (providers.Kind, bool) {
		k := kindOf(e.Config())
		return k, slices.Contains(kinds, k)
	}
	if targets, ok := r.aliases[model]; ok {
		var routes []route
		for _, t := range targets {
			if e, ok := r.reg.Get(t.Endpoint); ok {
				if k, ok := serves(e); ok {
					routes = append(routes, route{e, t.Model, k, t.Price})
				}
			}
		}
		if len(routes) == 0 {
			return nil, notFoundModel(model)
		}
		return routes, nil
	}
	prefix, upstream, ok := strings.Cut(model, "/")
	if !ok || upstream == "" {
		return nil, notFoundModel(model)
	}
	if e, ok := r.reg.Get(prefix); ok {
		if k, ok := serves(e); ok {
			return []route{{ep: e, model: upstream, kind: k}}, nil
		}
	}
	// PROVIDER/MODEL: the endpoints of that provider serving the route, of
	// the first kind the route prefers that has any.
	var match []route
	for _, kind := range kinds {
		for _, e := range r.reg.All() {
			if k, ok := serves(e); ok && k == kind && e.Config().Provider == prefix {
				match = append(match, route{ep: e, model: upstream, kind: k})
			}
		}
		if len(match) > 0 {
			break
		}
	}
	switch len(match) {
	case 0:
		return nil, notFoundModel(model)
	case 1:
		return match, nil
	}
	names := make([]string, len(match))
	for i, m := range match {
		names[i] = m.ep.Name() + "/" + upstream
	}
	return nil, badRequest("model", "the model %q is ambiguous: %d endpoints of provider %q serve it; name one: %s",
		truncate(model), len(match), prefix, strings.Join(names, ", "))
}

// labelFor is what metrics call a request's model: the alias, or the name
// of the endpoint it was routed to, else "other". Client strings of any
// length and number never become label values.
func (r *router) labelFor(model string) string {
	if _, ok := r.aliases[model]; ok {
		return model
	}
	if prefix, _, ok := strings.Cut(model, "/"); ok {
		if _, ok := r.reg.Get(prefix); ok {
			return prefix
		}
	}
	return "other"
}

// maxField bounds what a log line keeps of a client's string.
const maxField = 256

// truncate cuts a client's string for logs and messages.
func truncate(s string) string {
	if len(s) <= maxField {
		return s
	}
	return s[:maxField] + "…"
}

// registryConfigs maps the registry's endpoints to their configs.
func registryConfigs(reg *fxmodule.Registry) map[string]endpoint.Config {
	out := map[string]endpoint.Config{}
	for _, e := range reg.All() {
		out[e.Name()] = e.Config()
	}
	return out
}

// resolve is router.resolve behind the client key's model list.
func (s *Server) resolve(x *exchange, model string, kinds ...providers.Kind) ([]route, *apiError) {
	if !x.key.Allows(model) {
		return nil, modelNotAllowed(x.key, model)
	}
	return s.router.resolve(model, kinds...)
}

// sessionHeaders carry an agent client's session: Claude Code's, Codex's,
// and a generic one.
var sessionHeaders = []string{"X-Claude-Code-Session-Id", "Session-Id", "X-Session-Id"}

// sticky orders a sticky alias's routes for the request's session: the
// target its hash picks first, then the others in their order.
func (s *Server) sticky(r *http.Request, model string, routes []route) []route {
	if len(routes) < 2 || !slices.Contains(s.cfg.Sticky, model) {
		return routes
	}
	var session string
	for _, h := range sessionHeaders {
		if session = r.Header.Get(h); session != "" {
			break
		}
	}
	if session == "" {
		return routes
	}
	f := fnv.New64a()
	_, _ = f.Write([]byte(session))
	first := int(f.Sum64() % uint64(len(routes)))
	if first == 0 {
		return routes
	}
	out := make([]route, 0, len(routes))
	out = append(out, routes[first])
	out = append(out, routes[:first]...)
	return append(out, routes[first+1:]...)
}
