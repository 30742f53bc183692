// Package typedchat is the setup the typed-call benchmarks share: a
// loopback chat upstream, openai-go's own client on it, and the client
// openai.ClientOf builds on an endpoint (limits, breaker, retries on).
package typedchat

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/khive-go/khive/endpoint"
	khiveopenai "github.com/khive-go/khive/providers/openai"
)

// Params is the call both clients make.
var Params = openai.ChatCompletionNewParams{
	Model:     "gpt-4o-mini",
	Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello there")},
	MaxTokens: openai.Int(16),
}

// Setup starts the upstream and the endpoint; close stops both.
func Setup() (sdk, khive *openai.Client, close func(), err error) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}`)
	}))
	e, err := endpoint.New(endpoint.Config{
		Name: "bench", Provider: "openai", BaseURL: srv.URL + "/v1", Path: "chat/completions", APIKey: endpoint.NewSecret("k"),
		Limits: endpoint.Limits{RequestsPerMinute: 1e9, Burst: 1e6, TokensPerMinute: 1e12, MaxConcurrency: 64, QueueSize: 1024},
	})
	if err == nil {
		err = e.Start(context.Background())
	}
	if err != nil {
		srv.Close()
		return nil, nil, nil, err
	}
	raw := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("k"),
		option.WithHTTPClient(&http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}))
	return &raw, khiveopenai.ClientOf(e), func() { _ = e.Stop(context.Background()); srv.Close() }, nil
}
