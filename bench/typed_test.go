package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/khive-go/khive/endpoint"
	khiveopenai "github.com/khive-go/khive/providers/openai"
)

// BenchmarkTypedChat is one typed chat call through openai-go: its own
// client (the baseline) and the client openai.ClientOf builds on an
// endpoint (limits, breaker, retries on), same loopback upstream, same run:
//
//	cd bench && go test -run XXX -bench TypedChat -benchmem
//
// cmd/typed interleaves the two in rounds and reports medians.
func BenchmarkTypedChat(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}`)
	}))
	defer srv.Close()
	ctx := context.Background()
	e, err := endpoint.New(endpoint.Config{
		Name: "bench", Provider: "openai", BaseURL: srv.URL + "/v1", Path: "chat/completions", APIKey: endpoint.NewSecret("k"),
		Limits: endpoint.Limits{RequestsPerMinute: 1e9, Burst: 1e6, TokensPerMinute: 1e12, MaxConcurrency: 64, QueueSize: 1024},
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer e.Stop(ctx)
	raw := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("k"),
		option.WithHTTPClient(&http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}))
	params := openai.ChatCompletionNewParams{
		Model:     "gpt-4o-mini",
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello there")},
		MaxTokens: openai.Int(16),
	}
	for _, c := range []struct {
		name   string
		client *openai.Client
	}{{"sdk", &raw}, {"khive", khiveopenai.ClientOf(e)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.client.Chat.Completions.New(ctx, params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
