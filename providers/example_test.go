package providers_test

import (
	"fmt"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/anthropic"
)

// A catalog endpoint becomes a full config; the key comes from the
// provider's variable unless given.
func ExampleMatch() {
	cfg, err := providers.Match("anthropic", "messages", providers.WithAPIKey(endpoint.NewSecret("sk-ant-example")))
	fmt.Println(err)
	fmt.Println(cfg.BaseURL, cfg.Path, cfg.Kind, cfg.Auth, cfg.Headers["anthropic-version"])
	fmt.Println(cfg.APIKey) // never the key itself
	// Output:
	// <nil>
	// https://api.anthropic.com/v1 messages messages x-api-key 2023-06-01
	// [redacted]
}

// The catalog is data: what each provider serves, and the dialect its
// endpoints speak.
func ExampleLookup() {
	p, _ := providers.Lookup("ollama")
	fmt.Println(p.Kinds(), p.NeedsKey(), p.BaseURLEnv)
	fmt.Println(providers.DialectOf("anthropic") == anthropic.Dialect, providers.DialectOf("my-own").Retryable(529))
	// Output:
	// [chat embeddings models] false OLLAMA_HOST
	// true false
}
