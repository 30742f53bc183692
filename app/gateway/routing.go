package gateway

import (
	"slices"
	"strings"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/fxmodule"
	"github.com/khive-go/khive/providers"
)

// route is one place a request can go.
type route struct {
	ep    *endpoint.Endpoint
	model string         // the upstream model name
	kind  providers.Kind // what the endpoint speaks
}

// router resolves a request's model to routes for a kind of endpoint.
type router struct {
	reg     *fxmodule.Registry
	aliases map[string][]Target
}

// kindOf tells what an endpoint serves from its path.
func kindOf(cfg endpoint.Config) providers.Kind {
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
// of that provider serves the route.
func (r *router) resolve(model string, kinds ...providers.Kind) ([]route, bool) {
	serves := func(e *endpoint.Endpoint) (providers.Kind, bool) {
		k := kindOf(e.Config())
		return k, slices.Contains(kinds, k)
	}
	if targets, ok := r.aliases[model]; ok {
		var routes []route
		for _, t := range targets {
			if e, ok := r.reg.Get(t.Endpoint); ok {
				if k, ok := serves(e); ok {
					routes = append(routes, route{e, t.Model, k})
				}
			}
		}
		return routes, len(routes) > 0
	}
	prefix, upstream, ok := strings.Cut(model, "/")
	if !ok || upstream == "" {
		return nil, false
	}
	if e, ok := r.reg.Get(prefix); ok {
		if k, ok := serves(e); ok {
			return []route{{e, upstream, k}}, true
		}
	}
	var match []route
	for _, e := range r.reg.All() {
		if k, ok := serves(e); ok && e.Config().Provider == prefix {
			match = append(match, route{e, upstream, k})
		}
	}
	if len(match) != 1 {
		return nil, false // none, or ambiguous: name the endpoint instead
	}
	return match, true
}

// registryConfigs maps the registry's endpoints to their configs.
func registryConfigs(reg *fxmodule.Registry) map[string]endpoint.Config {
	out := map[string]endpoint.Config{}
	for _, e := range reg.All() {
		out[e.Name()] = e.Config()
	}
	return out
}
