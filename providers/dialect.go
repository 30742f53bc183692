package providers

import (
	"net/http"

	"github.com/khive-go/khive/endpoint"
)

// The dialects of the catalog's families: what an endpoint knows of a
// provider's wire format (see endpoint.Dialect). Each builds on
// endpoint.GenericDialect and changes only where its family differs.
var (
	// OpenAI is the dialect of OpenAI and of every provider that speaks its
	// format (Groq, OpenRouter, Perplexity, Ollama, Gemini, DeepSeek,
	// Mistral, Together): the generic one.
	OpenAI endpoint.Dialect = openAIDialect{}
	// Anthropic adds its 529 "overloaded": retried, and overloaded.
	Anthropic endpoint.Dialect = anthropicDialect{}
	// Exa is the generic dialect too.
	Exa endpoint.Dialect = exaDialect{}
)

type openAIDialect struct{ endpoint.GenericDialect }

type anthropicDialect struct{ endpoint.GenericDialect }

// statusOverloaded is Anthropic's 529: its API is overloaded.
const statusOverloaded = 529

func (anthropicDialect) Retryable(status int) bool {
	return status == statusOverloaded || endpoint.GenericDialect{}.Retryable(status)
}

func (anthropicDialect) Overloaded(status int) bool {
	return status == statusOverloaded || status == http.StatusServiceUnavailable
}

type exaDialect struct{ endpoint.GenericDialect }

// DialectOf is the dialect of a catalog provider, GenericDialect for any
// other.
func DialectOf(provider string) endpoint.Dialect {
	if p, ok := catalog[provider]; ok && p.Dialect != nil {
		return p.Dialect
	}
	return endpoint.GenericDialect{}
}
