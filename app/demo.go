package main

import (
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/fxmodule"
	"github.com/khive-go/khive/khivetest"
)

// demoFile is the config of `go run ./app -demo`: endpoints of every kind
// the gateway serves, all on up, an in-process fake provider (khivetest)
// on loopback that echoes what it is sent. A newcomer without a key can
// try every route at once:
//
//	demo/MODEL              chat completions (and /v1/messages, /v1/responses, translated)
//	demo-claude/MODEL       Anthropic's messages (and chat completions, translated)
//	demo-responses/MODEL    the Responses API, passed through
//	demo-embeddings/MODEL   embeddings
//
// Built-in tools (web_search, …) sent to a chat endpoint are dropped
// (unsupported_tools: drop), so that agent clients such as Codex work on
// every route; reasoning is mapped for the chat endpoint too (reasoning:
// map), whose fake reasons when asked to, as a reasoning model does.
func demoFile(up *khivetest.Server) gateway.File {
	ep := func(provider, kind string) fxmodule.EndpointConfig {
		ec := fxmodule.EndpointConfig{Endpoint: kind}
		ec.Provider, ec.BaseURL, ec.APIKey = provider, up.BaseURL(), endpoint.NewSecret("demo-key")
		return ec
	}
	up.Key = "demo-key"
	return gateway.File{
		Config: fxmodule.Config{Endpoints: map[string]fxmodule.EndpointConfig{
			"demo":            ep("openai", "chat"),
			"demo-embeddings": ep("openai", "embeddings"),
			"demo-responses":  ep("openai", "responses"),
			"demo-claude":     ep("anthropic", "messages"),
		}},
		Gateway: gateway.Config{UnsupportedTools: map[string]string{"demo": "drop", "demo-claude": "drop"},
			Reasoning: map[string]string{"demo": "map"}}, // the fake thinks when asked to
	}
}
