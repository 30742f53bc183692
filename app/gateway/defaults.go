package gateway

import (
	"fmt"
	"slices"

	"github.com/khive-go/khive/fxmodule"
	"github.com/khive-go/khive/providers"
)

// Decision says what the default config did with one provider.
type Decision struct {
	Provider   string
	Configured []string // endpoint names
	Skipped    string   // why not, when nothing was configured
}

// DefaultFile is the config used without a file: listen on 127.0.0.1:8080,
// and for every catalog provider the gateway can serve (one with chat,
// embeddings or messages endpoints) whose key is set, or that needs none,
// its chat or messages endpoint named PROVIDER and its embeddings and
// responses endpoints named PROVIDER-embeddings and PROVIDER-responses, with the base URL its catalog entry's
// environment variable gives (OLLAMA_HOST for ollama).
func DefaultFile(getenv func(string) string) (File, []Decision) {
	f := File{Config: fxmodule.Config{Endpoints: map[string]fxmodule.EndpointConfig{}}}
	var ds []Decision
	served := []providers.Kind{providers.KindChat, providers.KindEmbeddings, providers.KindMessages, providers.KindResponses}
	for _, name := range providers.Names() {
		p, _ := providers.Lookup(name)
		d := Decision{Provider: name}
		switch {
		case !slices.ContainsFunc(p.Kinds(), func(k providers.Kind) bool { return slices.Contains(served, k) }):
			d.Skipped = "no gateway route: the gateway serves chat, embeddings, messages and responses"
		case p.NeedsKey() && getenv(p.KeyEnv) == "":
			d.Skipped = fmt.Sprintf("%s is not set", p.KeyEnv)
		default:
			for _, ep := range p.EndpointNames() {
				kind := p.Endpoints[ep].Kind
				if !slices.Contains(served, kind) {
					continue
				}
				cfg, err := providers.Match(name, ep, providers.WithGetenv(getenv))
				if err != nil {
					continue
				}
				ec := fxmodule.EndpointConfig{Endpoint: ep}
				ec.Provider, ec.BaseURL, ec.APIKey = name, cfg.BaseURL, cfg.APIKey
				n := name
				if kind == providers.KindEmbeddings || kind == providers.KindResponses {
					n += "-" + ep
				}
				f.Endpoints[n] = ec
				d.Configured = append(d.Configured, n)
			}
		}
		ds = append(ds, d)
	}
	return f, ds
}
