package endpoint_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/khive-go/khive/endpoint"
)

type cannedRT struct{}

func (cannedRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	b := `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}`
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(b)), ContentLength: int64(len(b)), Request: r}, nil
}

func BenchmarkXCanned(b *testing.B) {
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hello there"}],"max_tokens":16}`)
	e, _ := endpoint.New(endpoint.Config{
		Name: "bench", BaseURL: "http://127.0.0.1:1/v1", Path: "chat/completions", APIKey: endpoint.NewSecret("k"),
		Limits: endpoint.Limits{RequestsPerMinute: 1e9, Burst: 1e6, TokensPerMinute: 1e12, MaxConcurrency: 64, QueueSize: 1024},
	}, endpoint.WithRoundTripper(cannedRT{}))
	ctx := context.Background()
	_ = e.Start(ctx)
	defer e.Stop(ctx)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Call(ctx, endpoint.Request{Body: body}); err != nil {
			b.Fatal(err)
		}
	}
}
