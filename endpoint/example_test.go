package endpoint_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/khive-go/khive/endpoint"
)

// exampleUpstream stands in for a provider on loopback.
func exampleUpstream() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") == "text/event-stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: {\"delta\":\"Hel\"}\n\ndata: {\"delta\":\"lo\"}\n\ndata: [DONE]\n\n")
			return
		}
		_, _ = io.WriteString(w, `{"choices":[{"message":{"content":"Hello"}}]}`)
	}))
}

func ExampleEndpoint_Call() {
	srv := exampleUpstream()
	defer srv.Close()

	e, err := endpoint.New(endpoint.Config{
		Name:     "chat",
		Provider: "openai",
		BaseURL:  srv.URL + "/v1",
		Path:     "chat/completions",
		APIKey:   endpoint.NewSecret("sk-example"),
		Limits:   endpoint.Limits{MaxConcurrency: 4, QueueSize: 16},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := e.Start(ctx); err != nil {
		panic(err)
	}
	defer e.Stop(ctx)

	resp, err := e.Call(ctx, endpoint.Request{Body: map[string]any{
		"model":    "gpt-4o-mini",
		"messages": []map[string]string{{"role": "user", "content": "Say hello"}},
	}})
	if err != nil {
		panic(err)
	}
	var out struct {
		Choices []struct{ Message struct{ Content string } }
	}
	_ = resp.Decode(&out)
	fmt.Println(resp.Status, out.Choices[0].Message.Content)
	// Output: 200 Hello
}

func ExampleEndpoint_Stream() {
	srv := exampleUpstream()
	defer srv.Close()
	e, _ := endpoint.New(endpoint.Config{Name: "chat", BaseURL: srv.URL, Path: "chat/completions", Auth: endpoint.AuthNone})
	ctx := context.Background()
	_ = e.Start(ctx)
	defer e.Stop(ctx)

	s, err := e.Stream(ctx, endpoint.Request{Body: map[string]any{"stream": true}})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	for s.Next() {
		fmt.Println(s.Event().Data)
	}
	fmt.Println("err:", s.Err())
	// Output:
	// {"delta":"Hel"}
	// {"delta":"lo"}
	// err: <nil>
}

func ExampleEndpoint_Stop() {
	srv := exampleUpstream()
	defer srv.Close()
	e, _ := endpoint.New(endpoint.Config{Name: "chat", BaseURL: srv.URL, Auth: endpoint.AuthNone})
	_ = e.Start(context.Background())

	// Drain for up to 5 s, then cancel what is left; release the client.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("stop:", e.Stop(ctx))
	_, err := e.Call(context.Background(), endpoint.Request{})
	fmt.Println(err)
	// Output:
	// stop: <nil>
	// endpoint "chat": endpoint: closed
}

// Any client that takes an *http.Client becomes a managed one: here a
// hand-written client of a search API. Its requests get the endpoint's
// auth, limits, retries and breaker, and Stop drains them.
func ExampleEndpoint_HTTPClient() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"auth":%q,"query":%q}`, r.Header.Get("X-Api-Key"), r.URL.Query().Get("q"))
	}))
	defer srv.Close()
	e, err := endpoint.New(endpoint.Config{
		Name: "search", Provider: "custom", BaseURL: srv.URL + "/v1",
		Auth: endpoint.AuthXAPIKey, APIKey: endpoint.NewSecret("search-key"),
		Limits: endpoint.Limits{RequestsPerSecond: 10, Burst: 1},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := e.Start(ctx); err != nil {
		panic(err)
	}
	defer e.Stop(ctx)

	search := &searchClient{base: srv.URL + "/v1", hc: e.HTTPClient()}
	out, err := search.Query(ctx, "khive")
	fmt.Println(out, err)
	// Output: {"auth":"search-key","query":"khive"} <nil>
}

// searchClient is a hand-written API client on an *http.Client.
type searchClient struct {
	base string
	hc   *http.Client
}

func (c *searchClient) Query(ctx context.Context, q string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/search?q="+q, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
