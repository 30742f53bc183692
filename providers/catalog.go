package providers

import (
	"maps"
	"slices"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/exa"
	"github.com/khive-go/khive/providers/openai"
)

// Kind is what an endpoint does; the gateway routes by it.
type Kind string

const (
	KindChat       Kind = "chat"       // OpenAI chat completions
	KindEmbeddings Kind = "embeddings" // OpenAI embeddings
	KindResponses  Kind = "responses"  // OpenAI responses
	KindMessages   Kind = "messages"   // Anthropic messages
	KindSearch     Kind = "search"     // Exa search
	KindModels     Kind = "models"     // a model list
)

// Spec is one endpoint of a provider.
type Spec struct {
	Path string
	Kind Kind
}

// Provider is a catalog entry.
type Provider struct {
	Name    string
	BaseURL string
	Auth    string // endpoint.AuthBearer, AuthXAPIKey or AuthNone (needs no key)
	// KeyEnv is the environment variable holding the key, when one is
	// needed.
	KeyEnv string
	// BaseURLEnv, when set, is an environment variable that moves the base
	// URL: a host ("gpu-box:11434") or a URL; a missing scheme is http://
	// and a missing path is BaseURL's (OLLAMA_HOST).
	BaseURLEnv string
	Headers    map[string]string
	Transports []string // supported transports; the first is the default
	Endpoints  map[string]Spec
	// Dialect is what its endpoints know of its wire format.
	Dialect endpoint.Dialect
	// ModelsPath is where it lists its models (GET, beside the base URL);
	// "" when it has no list.
	ModelsPath string
}

// OpenAICompatible reports whether the provider speaks OpenAI's wire format.
func (p Provider) OpenAICompatible() bool { return p.Dialect == openai.Dialect }

// NeedsKey reports whether calls need an API key.
func (p Provider) NeedsKey() bool { return p.Auth != endpoint.AuthNone }

// Kinds lists the kinds of the provider's endpoints, sorted, once each.
func (p Provider) Kinds() []Kind {
	var ks []Kind
	for _, s := range p.Endpoints {
		if !slices.Contains(ks, s.Kind) {
			ks = append(ks, s.Kind)
		}
	}
	slices.Sort(ks)
	return ks
}

var (
	httpAndSDK = []string{endpoint.TransportHTTP, endpoint.TransportSDK}
	httpOnly   = []string{endpoint.TransportHTTP}
	chat       = Spec{Path: "chat/completions", Kind: KindChat}
	embeddings = Spec{Path: "embeddings", Kind: KindEmbeddings}
)

// DefaultAnthropicVersion is sent as anthropic-version unless overridden.
const DefaultAnthropicVersion = "2023-06-01"

var catalog = map[string]Provider{
	"openai": {
		ModelsPath: "models",
		Name:       "openai", BaseURL: "https://api.openai.com/v1", Auth: endpoint.AuthBearer, KeyEnv: "OPENAI_API_KEY",
		Transports: httpAndSDK,
		Endpoints:  map[string]Spec{"chat": chat, "embeddings": embeddings, "responses": {Path: "responses", Kind: KindResponses}},
		Dialect:    openai.Dialect,
	},
	"anthropic": {
		ModelsPath: "models?limit=1000", // its list comes in pages of 20 by default
		Name:       "anthropic", BaseURL: "https://api.anthropic.com/v1", Auth: endpoint.AuthXAPIKey, KeyEnv: "ANTHROPIC_API_KEY",
		Headers:    map[string]string{"anthropic-version": DefaultAnthropicVersion},
		Transports: httpAndSDK,
		Endpoints:  map[string]Spec{"messages": {Path: "messages", Kind: KindMessages}},
		Dialect:    anthropic.Dialect,
	},
	"groq": {
		ModelsPath: "models",
		Name:       "groq", BaseURL: "https://api.groq.com/openai/v1", Auth: endpoint.AuthBearer, KeyEnv: "GROQ_API_KEY",
		Transports: httpAndSDK, Endpoints: map[string]Spec{"chat": chat},
		Dialect: openai.Dialect,
	},
	"openrouter": {
		ModelsPath: "models",
		Name:       "openrouter", BaseURL: "https://openrouter.ai/api/v1", Auth: endpoint.AuthBearer, KeyEnv: "OPENROUTER_API_KEY",
		Transports: httpAndSDK, Endpoints: map[string]Spec{"chat": chat},
		Dialect: openai.Dialect,
	},
	"perplexity": {
		ModelsPath: "models",
		Name:       "perplexity", BaseURL: "https://api.perplexity.ai", Auth: endpoint.AuthBearer, KeyEnv: "PERPLEXITY_API_KEY",
		Transports: httpAndSDK, Endpoints: map[string]Spec{"chat": chat},
		Dialect: openai.Dialect,
	},
	"ollama": {
		ModelsPath: "models",
		Name:       "ollama", BaseURL: "http://localhost:11434/v1", Auth: endpoint.AuthNone, BaseURLEnv: "OLLAMA_HOST",
		Transports: httpAndSDK,
		Endpoints:  map[string]Spec{"chat": chat, "embeddings": embeddings, "models": {Path: "models", Kind: KindModels}},
		Dialect:    openai.Dialect,
	},
	"gemini": {
		ModelsPath: "models",
		Name:       "gemini", BaseURL: "https://generativelanguage.googleapis.com/v1beta/openai", Auth: endpoint.AuthBearer, KeyEnv: "GEMINI_API_KEY",
		Transports: httpAndSDK, Endpoints: map[string]Spec{"chat": chat, "embeddings": embeddings},
		Dialect: openai.Dialect,
	},
	"deepseek": {
		ModelsPath: "models",
		Name:       "deepseek", BaseURL: "https://api.deepseek.com/v1", Auth: endpoint.AuthBearer, KeyEnv: "DEEPSEEK_API_KEY",
		Transports: httpAndSDK, Endpoints: map[string]Spec{"chat": chat},
		Dialect: openai.Dialect,
	},
	"mistral": {
		ModelsPath: "models",
		Name:       "mistral", BaseURL: "https://api.mistral.ai/v1", Auth: endpoint.AuthBearer, KeyEnv: "MISTRAL_API_KEY",
		Transports: httpAndSDK, Endpoints: map[string]Spec{"chat": chat, "embeddings": embeddings},
		Dialect: openai.Dialect,
	},
	"together": {
		ModelsPath: "models",
		Name:       "together", BaseURL: "https://api.together.ai/v1", Auth: endpoint.AuthBearer, KeyEnv: "TOGETHER_API_KEY",
		Transports: httpAndSDK, Endpoints: map[string]Spec{"chat": chat, "embeddings": embeddings},
		Dialect: openai.Dialect,
	},
	"exa": {
		Name: "exa", BaseURL: "https://api.exa.ai", Auth: endpoint.AuthXAPIKey, KeyEnv: "EXA_API_KEY",
		Transports: httpOnly, Endpoints: map[string]Spec{"search": {Path: "search", Kind: KindSearch}},
		Dialect: exa.Dialect,
	},
}

// Names lists the catalog's providers, sorted.
func Names() []string { return slices.Sorted(maps.Keys(catalog)) }

// Lookup returns a provider's entry. The returned maps are copies.
func Lookup(name string) (Provider, bool) {
	p, ok := catalog[name]
	if !ok {
		return Provider{}, false
	}
	p.Headers = maps.Clone(p.Headers)
	p.Endpoints = maps.Clone(p.Endpoints)
	p.Transports = slices.Clone(p.Transports)
	return p, true
}

// EndpointNames lists a provider's endpoints, sorted.
func (p Provider) EndpointNames() []string { return slices.Sorted(maps.Keys(p.Endpoints)) }
