// Command endpoint compares one call on loopback through khive's endpoint
// (limits, breaker and retry on) with a raw http.Client.Do, hashicorp's
// go-retryablehttp and failsafe-go's failsafehttp (retry + circuit breaker +
// timeout). Clients take turns in rounds so drift hits them alike.
//
//	cd bench && go run ./cmd/endpoint [-calls 20000]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/failsafe-go/failsafe-go/timeout"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/khive-go/khive/bench/internal/stats"
	"github.com/khive-go/khive/endpoint"
)

var body = []byte(`{"model":"m","messages":[{"role":"user","content":"hello there"}],"max_tokens":16}`)

func main() {
	calls := flag.Int("calls", 20000, "calls per client")
	flag.Parse()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}`)
	}))
	defer srv.Close()
	url := srv.URL + "/v1/chat/completions"
	ctx := context.Background()

	raw := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	e, err := endpoint.New(endpoint.Config{
		Name: "bench", BaseURL: srv.URL + "/v1", Path: "chat/completions", APIKey: endpoint.NewSecret("k"),
		Limits: endpoint.Limits{RequestsPerMinute: 1e9, Burst: 1e6, TokensPerMinute: 1e12, MaxConcurrency: 64, QueueSize: 1024},
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = e.Start(ctx)
	defer e.Stop(ctx)
	rh := retryablehttp.NewClient()
	rh.Logger = nil
	rh.RetryMax = 2
	rh.HTTPClient.Transport = http.DefaultTransport.(*http.Transport).Clone()
	fs := &http.Client{Transport: failsafehttp.NewRoundTripper(http.DefaultTransport.(*http.Transport).Clone(),
		failsafehttp.NewRetryPolicyBuilder().WithMaxRetries(2).Build(),
		circuitbreaker.NewWithDefaults[*http.Response](),
		timeout.New[*http.Response](2*time.Minute))}

	doHTTP := func(c interface {
		Do(*http.Request) (*http.Response, error)
	}) func() error {
		return func() error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer k")
			req.Header.Set("Content-Type", "application/json")
			return drain(c.Do(req))
		}
	}
	clients := []struct {
		name string
		call func() error
	}{
		{"raw http.Client.Do", doHTTP(raw)},
		{"khive endpoint.Call", func() error { _, err := e.Call(ctx, endpoint.Request{Body: body}); return err }},
		{"go-retryablehttp", func() error {
			req, _ := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, url, body)
			req.Header.Set("Authorization", "Bearer k")
			return drain(rh.Do(req))
		}},
		{"failsafe-go failsafehttp", doHTTP(fs)},
	}
	samples := make([][]time.Duration, len(clients))
	for _, c := range clients { // warm up connections
		for range 200 {
			if err := c.call(); err != nil {
				log.Fatal(c.name, ": ", err)
			}
		}
	}
	const round = 500
	for done := 0; done < *calls; done += round {
		for i, c := range clients {
			for range round {
				start := time.Now()
				if err := c.call(); err != nil {
					log.Fatal(c.name, ": ", err)
				}
				samples[i] = append(samples[i], time.Since(start))
			}
		}
	}
	base := stats.Of(samples[0])
	fmt.Printf("| client | median | p99 | median vs raw |\n| --- | ---: | ---: | ---: |\n")
	for i, c := range clients {
		s := stats.Of(samples[i])
		fmt.Printf("| %s | %v | %v | %.2fx |\n", c.name, s.P50, s.P99, float64(s.P50)/float64(base.P50))
	}
}

// drain reads and closes a response body so the connection is reused.
func drain(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return err
}
