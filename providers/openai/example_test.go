package openai_test

import (
	"context"
	"fmt"

	oai "github.com/openai/openai-go/v3"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/openai"
)

// The official client, every call of it managed by the endpoint.
func ExampleClientOf() {
	up := khivetest.New() // stands in for https://api.openai.com/v1
	defer up.Close()
	cfg, err := providers.Match("openai", "chat", providers.WithBaseURL(up.BaseURL()),
		providers.WithAPIKey(endpoint.NewSecret("sk-example")))
	if err != nil {
		panic(err)
	}
	cfg.Limits = endpoint.Limits{MaxConcurrency: 8, RequestsPerSecond: 100, Burst: 8}
	e, err := providers.NewEndpoint(cfg)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := e.Start(ctx); err != nil {
		panic(err)
	}
	defer e.Stop(ctx)

	client := openai.ClientOf(e)
	out, err := client.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hello")},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(out.Choices[0].Message.Content)
	// Output: echo: hello
}
