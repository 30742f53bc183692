package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkChat sends chat completions through the gateway, one at a time,
// straight to the fake upstream, and through a bare httputil.ReverseProxy
// to it (the floor: the same hop with nothing done on it, the client's
// key swapped for the upstream's); "gateway-anthropic" is
// the same request routed to an Anthropic endpoint (translated both ways),
// "gateway-responses" a Responses API request for the chat endpoint
// (translated to chat and back).
//
//	go test -run XXX -bench Chat -benchmem ./app/gateway/
func BenchmarkChat(b *testing.B) {
	e := newBenchEnv(b)
	body := `{"model":"up/gpt-4o-mini","messages":[{"role":"user","content":"hello there"}]}`
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}}
	send := func(b *testing.B, url, key string) { sendBody(b, client, url, key, body) }
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			send(b, e.ups["up"].BaseURL()+"/chat/completions", upstreamKey)
		}
	})
	up, _ := url.Parse(e.ups["up"].BaseURL())
	proxy := &httputil.ReverseProxy{
		Transport: &http.Transport{MaxIdleConnsPerHost: 100},
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(up)
			r.Out.URL.Path = up.Path + "/chat/completions"
			r.Out.Header.Set("Authorization", "Bearer "+upstreamKey)
		},
	}
	floor := httptest.NewServer(proxy)
	b.Cleanup(floor.Close)
	b.Run("reverseproxy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			send(b, floor.URL+"/v1/chat/completions", clientKey)
		}
	})
	b.Run("gateway", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			send(b, e.url("/v1/chat/completions"), clientKey)
		}
	})
	anthropicBody := `{"model":"claude/claude-sonnet-4-5","messages":[{"role":"user","content":"hello there"}]}`
	b.Run("gateway-anthropic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sendBody(b, client, e.url("/v1/chat/completions"), clientKey, anthropicBody)
		}
	})
	responsesBody := `{"model":"up/gpt-4o-mini","input":"hello there"}`
	b.Run("gateway-responses", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sendBody(b, client, e.url("/v1/responses"), clientKey, responsesBody)
		}
	})
}

func sendBody(b *testing.B, client *http.Client, url, key, body string) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatal(resp.StatusCode)
	}
}
