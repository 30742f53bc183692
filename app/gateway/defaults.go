package gateway

import (
	"fmt"

	"github.com/khive-go/khive/endpoint"
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
// a chat (and, where the catalog has one, embeddings) endpoint for every
// provider whose key variable is set, named PROVIDER and
// PROVIDER-embeddings, anthropic's messages endpoint named anthropic, and
// ollama at OLLAMA_HOST or localhost:11434.
func DefaultFile(getenv func(string) string) (File, []Decision) {
	f := File{Config: fxmodule.Config{Endpoints: map[string]fxmodule.EndpointConfig{}}}
	var ds []Decision
	for _, name := range providers.Names() {
		p, _ := providers.Lookup(name)
		d := Decision{Provider: name}
		switch {
		case !p.OpenAICompatible() && name != "anthropic":
			d.Skipped = "no gateway route: the gateway serves chat, embeddings and messages"
		case name != "ollama" && getenv(p.KeyEnv) == "":
			d.Skipped = fmt.Sprintf("%s is not set", p.KeyEnv)
		default:
			for _, ep := range []string{"chat", "embeddings", "messages"} {
				if _, ok := p.Endpoints[ep]; !ok {
					continue
				}
				ec := fxmodule.EndpointConfig{Endpoint: ep}
				ec.Provider = name
				if name == "ollama" {
					if host := getenv("OLLAMA_HOST"); host != "" {
						cfg, err := providers.Match(name, ep, providers.WithGetenv(getenv))
						if err == nil {
							ec.BaseURL = cfg.BaseURL
						}
					}
				} else {
					ec.APIKey = endpoint.NewSecret(getenv(p.KeyEnv))
				}
				n := name
				if ep != "chat" && ep != "messages" {
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
