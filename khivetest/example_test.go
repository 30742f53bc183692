package khivetest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/openai"
)

// A service's own test: its OpenAI endpoint pointed at a fake provider that
// answers the first request with a 503, then normally.
func Example() {
	up := khivetest.New()
	defer up.Close()
	up.Script(khivetest.Fault{Kind: khivetest.Status, Status: 503})

	cfg, _ := providers.Match("openai", "chat", providers.WithBaseURL(up.BaseURL()),
		providers.WithAPIKey(endpoint.NewSecret("sk-test")))
	cfg.Retry = endpoint.RetryConfig{BaseDelay: 1, MaxDelay: 1} // retry at once
	e, _ := providers.NewEndpoint(cfg)
	ctx := context.Background()
	_ = e.Start(ctx)
	defer e.Stop(ctx)

	resp, err := e.Call(ctx, endpoint.Request{Body: openai.ChatRequest{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatMessage{{Role: "user", Content: openai.TextContent("hi")}},
	}})
	fmt.Println(resp.Status, resp.Attempts, err, up.Requests())
	// Output: 200 2 <nil> 2
}

// A provider enforcing its rate limit with OpenAI's headers: the second
// request of a bucket of one is refused with 429 and retry-after-ms.
func ExampleServer_Enforce() {
	up := khivetest.New()
	defer up.Close()
	up.Enforce(1, 1) // one request a second, burst 1
	cfg, _ := providers.Match("openai", "chat", providers.WithBaseURL(up.BaseURL()),
		providers.WithAPIKey(endpoint.NewSecret("sk-test")))
	cfg.Retry = endpoint.RetryConfig{MaxAttempts: 1}
	e, _ := providers.NewEndpoint(cfg)
	ctx := context.Background()
	_ = e.Start(ctx)
	defer e.Stop(ctx)
	body := map[string]any{"model": "m", "messages": []any{map[string]any{"role": "user", "content": "hi"}}}
	_, err := e.Call(ctx, endpoint.Request{Body: body})
	fmt.Println(err)
	_, err = e.Call(ctx, endpoint.Request{Body: body})
	var se *endpoint.StatusError
	fmt.Println(errors.As(err, &se), se.Status, se.RetryAfter > 0, up.Limited())
	// Output:
	// <nil>
	// true 429 true 1
}
