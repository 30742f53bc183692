package gateway

import (
	"strings"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/fxmodule"
	"github.com/khive-go/khive/providers"
)

// route is one place a request can go.
type route struct {
	ep    *endpoint.Endpoint
	model string // the upstream model name
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

// resolve finds the routes for model: an alias, else ENDPOINT/MODEL, else
// PROVIDER/MODEL when exactly one endpoint of that provider serves kind.
func (r *router) resolve(model string, kind providers.Kind) ([]route, bool) {
	if targets, ok := r.aliases[model]; ok {
		var routes []route
		for _, t := range targets {
			if e, ok := r.reg.Get(t.Endpoint); ok && kindOf(e.Config()) == kind {
				routes = append(routes, route{e, t.Model})
			}
		}
		return routes, len(routes) > 0
	}
	prefix, upstream, ok := strings.Cut(model, "/")
	if !ok || upstream == "" {
		return nil, false
	}
	if e, ok := r.reg.Get(prefix); ok && kindOf(e.Config()) == kind {
		return []route{{e, upstream}}, true
	}
	var match *endpoint.Endpoint
	for _, e := range r.reg.All() {
		if e.Config().Provider == prefix && kindOf(e.Config()) == kind {
			if match != nil {
				return nil, false // ambiguous: name the endpoint instead
			}
			match = e
		}
	}
	if match == nil {
		return nil, false
	}
	return []route{{match, upstream}}, true
}

// registryConfigs maps the registry's endpoints to their configs.
func registryConfigs(reg *fxmodule.Registry) map[string]endpoint.Config {
	out := map[string]endpoint.Config{}
	for _, e := range reg.All() {
		out[e.Name()] = e.Config()
	}
	return out
}
