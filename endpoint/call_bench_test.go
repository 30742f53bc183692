package endpoint_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/khive-go/khive/endpoint"
)

// BenchmarkCall compares Endpoint.Call (limits, breaker and retry on) with
// a raw http.Client.Do of the same request to the same loopback server.
//
//	go test -run XXX -bench Call -benchmem ./endpoint/
func BenchmarkCall(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}`)
	}))
	defer srv.Close()
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hello there"}],"max_tokens":16}`)

	b.Run("baseline", func(b *testing.B) {
		hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		defer hc.CloseIdleConnections()
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/v1/chat/completions", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer k")
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadAll(resp.Body); err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
	})
	b.Run("endpoint", func(b *testing.B) {
		e, err := endpoint.New(endpoint.Config{
			Name: "bench", BaseURL: srv.URL + "/v1", Path: "chat/completions", APIKey: endpoint.NewSecret("k"),
			Limits: endpoint.Limits{RequestsPerMinute: 1e9, Burst: 1e6, TokensPerMinute: 1e12, MaxConcurrency: 64, QueueSize: 1024},
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		_ = e.Start(ctx)
		defer e.Stop(ctx)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.Call(ctx, endpoint.Request{Body: body}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
