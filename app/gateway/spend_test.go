package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/app/gateway/admission"
	"github.com/khive-go/khive/endpoint"
)

// usageUpstream answers every wire format with fixed usage, cached tokens
// included, so that a request's cost is known exactly.
func usageUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Model         string `json:"model"`
			Stream        bool   `json:"stream"`
			StreamOptions *struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		switch {
		case strings.HasSuffix(r.URL.Path, "/chat/completions") && body.Stream:
			w.Header().Set("Content-Type", "text/event-stream")
			chunk := `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"` + body.Model + `","choices":[{"index":0,"delta":{"role":"assistant","content":"` + strings.Repeat("x", 400) + `"},"finish_reason":null}]}`
			fmt.Fprintf(w, "data: %s\n\n", chunk)
			fmt.Fprintf(w, "data: %s\n\n", `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`)
			if body.StreamOptions != nil && body.StreamOptions.IncludeUsage {
				fmt.Fprintf(w, "data: %s\n\n", `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":2000,"completion_tokens":100,"total_tokens":2100,"prompt_tokens_details":{"cached_tokens":1000}}}`)
			}
			fmt.Fprint(w, "data: [DONE]\n\n")
		case strings.HasSuffix(r.URL.Path, "/chat/completions"):
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10000,"completion_tokens":1000,"total_tokens":11000,"prompt_tokens_details":{"cached_tokens":8000}}}`, body.Model)
		case strings.HasSuffix(r.URL.Path, "/messages"):
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"msg_1","type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":100,"cache_read_input_tokens":5000,"cache_creation_input_tokens":2000,"output_tokens":300}}`, body.Model)
		case strings.HasSuffix(r.URL.Path, "/responses"):
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":%q,"output":[{"type":"message","id":"m1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"hi","annotations":[]}]}],"usage":{"input_tokens":500,"output_tokens":50,"total_tokens":550,"input_tokens_details":{"cached_tokens":300}}}`, body.Model)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// withUsageUpstream adds endpoints u-chat (openai chat), u-claude
// (anthropic) and u-resp (openai responses) on usageUpstream, and u-self
// (a provider the price table does not know).
func withUsageUpstream(url string) option_ {
	return func(c *khive.Config, _ *gateway.Config) {
		add := func(name, provider, kind string) {
			ec := khive.EndpointConfig{Endpoint: kind}
			ec.Provider, ec.BaseURL, ec.APIKey = provider, url+"/v1", endpoint.NewSecret(upstreamKey)
			c.Endpoints[name] = ec
		}
		add("u-chat", "openai", "chat")
		add("u-claude", "anthropic", "messages")
		add("u-resp", "openai", "responses")
		self := khive.EndpointConfig{}
		self.Provider, self.BaseURL, self.Path, self.APIKey = "self-hosted", url+"/v1", "chat/completions", endpoint.NewSecret(upstreamKey)
		c.Endpoints["u-self"] = self
	}
}

// lastAccess is the last access log line's fields.
func (e *env) lastAccess(t *testing.T) map[string]any {
	t.Helper()
	var f map[string]any
	require.Eventually(t, func() bool {
		all := e.logs.FilterMessage("request").All()
		if len(all) == 0 {
			return false
		}
		f = all[len(all)-1].ContextMap()
		return true
	}, 2*time.Second, 5*time.Millisecond)
	return f
}

func price(t *testing.T, provider, model string) admission.Price {
	p, ok := admission.ShippedPrice(provider, model)
	require.True(t, ok, "%s/%s in the shipped table", provider, model)
	return p
}

func TestCostFromEachWireFormatsUsage(t *testing.T) {
	up := usageUpstream(t)
	e := newEnv(t, withUsageUpstream(up.URL))
	gpt, claude, gpt5 := price(t, "openai", "gpt-4.1-mini"), price(t, "anthropic", "claude-sonnet-4-5"), price(t, "openai", "gpt-5")
	cases := []struct {
		name, path, body string
		want             float64
		basis            string
	}{
		{"chat, cached prompt tokens", "/v1/chat/completions", `{"model":"u-chat/gpt-4.1-mini","messages":[{"role":"user","content":"hi"}]}`,
			gpt.Cost(admission.Usage{Input: 10000, CachedInput: 8000, Output: 1000}), "usage"},
		{"chat stream with usage", "/v1/chat/completions", `{"model":"u-chat/gpt-4.1-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
			gpt.Cost(admission.Usage{Input: 2000, CachedInput: 1000, Output: 100}), "usage"},
		{"anthropic messages, cache reads and writes", "/v1/messages", `{"model":"u-claude/claude-sonnet-4-5-20250929","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`,
			claude.Cost(admission.Usage{Input: 7100, CachedInput: 5000, CacheWrite: 2000, Output: 300}), "usage"},
		{"chat translated to anthropic", "/v1/chat/completions", `{"model":"u-claude/claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`,
			claude.Cost(admission.Usage{Input: 7100, CachedInput: 5000, CacheWrite: 2000, Output: 300}), "usage"},
		{"responses, cached input", "/v1/responses", `{"model":"u-resp/gpt-5","input":"hi"}`,
			gpt5.Cost(admission.Usage{Input: 500, CachedInput: 300, Output: 50}), "usage"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.post(c.path, c.body)
			require.Equal(t, http.StatusOK, status, body)
			f := e.lastAccess(t)
			assert.Equal(t, c.basis, f["cost"])
			assert.InDelta(t, c.want, f["cost_usd"], 1e-12)
			assert.Positive(t, c.want)
		})
	}

	t.Run("stream without usage is estimated", func(t *testing.T) {
		body := `{"model":"u-chat/gpt-4.1-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		status, _, resp := e.post("/v1/chat/completions", body)
		require.Equal(t, http.StatusOK, status, resp)
		f := e.lastAccess(t)
		assert.Equal(t, "estimate", f["cost"])
		// In: the body's bytes / 4; out: what was streamed / 4 (the
		// 400-character delta and its framing).
		streamed := len(resp)
		want := gpt.Cost(admission.Usage{Input: len(body) / 4, Output: streamed / 4})
		assert.InDelta(t, want, f["cost_usd"], 1e-12)
	})

	t.Run("a model without a price is unknown, not free", func(t *testing.T) {
		status, _, resp := e.post("/v1/chat/completions", `{"model":"u-self/llama","messages":[{"role":"user","content":"hi"}]}`)
		require.Equal(t, http.StatusOK, status, resp)
		f := e.lastAccess(t)
		assert.Equal(t, "unknown", f["cost"])
		_, metrics := e.get("/metrics")
		assert.Contains(t, metrics, `khive_gateway_spend_unknown_total{key="key-1",model="u-self"} 1`)
	})

	_, metrics := e.get("/metrics")
	assert.Contains(t, metrics, `khive_gateway_spend_usd_total{key="key-1",model="u-chat"}`)
	assert.Contains(t, metrics, `khive_gateway_spend_usd_total{key="key-1",model="u-claude"}`)
}

func TestPriceOverridesWinOverTheTable(t *testing.T) {
	up := usageUpstream(t)
	e := newEnv(t, withUsageUpstream(up.URL), func(_ *khive.Config, g *gateway.Config) {
		g.Prices = map[string]admission.Price{
			"u-chat":         {InputPerMTok: 1, OutputPerMTok: 2},
			"u-chat/special": {InputPerMTok: 10, OutputPerMTok: 20},
			"u-self":         {InputPerMTok: 1, OutputPerMTok: 1},
		}
		g.Models["cheap"] = []gateway.Target{{Endpoint: "u-chat", Model: "gpt-4.1-mini", Price: &admission.Price{InputPerMTok: 0.5}}}
	})
	for model, want := range map[string]float64{
		"u-chat/gpt-4.1-mini": (10000*1 + 1000*2) / 1e6, // the endpoint's price, cached tokens at input
		"u-chat/special":      (10000*10 + 1000*20) / 1e6,
		"cheap":               10000 * 0.5 / 1e6, // the alias target's
		"u-self/llama":        (10000 + 1000) / 1e6,
	} {
		status, _, body := e.post("/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`)
		require.Equal(t, http.StatusOK, status, body)
		f := e.lastAccess(t)
		assert.InDelta(t, want, f["cost_usd"], 1e-12, model)
		assert.Equal(t, "usage", f["cost"], model)
	}
}

func TestBudgetRefusesInTheRoutesFormat(t *testing.T) {
	up := usageUpstream(t)
	// gpt-4.1-mini's usage: 2k × 0.40 + 8k × 0.10 + 1k × 1.60 = $0.0032 a request.
	e := newEnv(t, withUsageUpstream(up.URL), withKeys(
		admission.ClientKey{Key: teamKey, Name: "team", Budget: &admission.Budget{USD: 0.01, Period: "day"}},
		admission.ClientKey{Key: "admin-key", Name: "ops", Admin: true},
	))
	ask := func(path, body string) (int, http.Header, string) {
		return e.post(path, body, "Authorization", "Bearer "+teamKey, "X-Api-Key", teamKey)
	}
	chat := `{"model":"u-chat/gpt-4.1-mini","max_tokens":500,"messages":[{"role":"user","content":"hi"}]}`
	var statuses []int
	for range 5 {
		status, _, _ := ask("/v1/chat/completions", chat)
		statuses = append(statuses, status)
	}
	// Worst case held: ~20 tokens in, 500 out = $0.0008; settled $0.0032 each: three fit in $0.01.
	assert.Equal(t, []int{200, 200, 200, 429, 429}, statuses)
	status, h, body := ask("/v1/chat/completions", chat)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Contains(t, body, `"type":"insufficient_quota"`)
	assert.Contains(t, body, "budget of $0.01")
	assert.Equal(t, "false", h.Get("X-Should-Retry"), "the SDKs do not retry a spent budget")
	assert.NotEmpty(t, h.Get("Retry-After"), "a day budget renews at midnight UTC")

	status, _, body = ask("/v1/messages", `{"model":"u-claude/claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Contains(t, body, `"type":"error"`, "in Anthropic's format on its route")

	status, _, body = ask("/v1/chat/completions", `{"model":"u-self/llama","messages":[{"role":"user","content":"hi"}]}`)
	assert.Equal(t, http.StatusForbidden, status, "a budgeted key may not use an unpriced model")
	assert.Contains(t, body, "price_unknown")

	// Spend is readable by admin keys only.
	status, _, body = e.getAs(teamKey, "/v1/khive/spend")
	assert.Equal(t, http.StatusForbidden, status, body)
	status, _, body = e.getAs("admin-key", "/v1/khive/spend")
	require.Equal(t, http.StatusOK, status, body)
	var list struct {
		Data []admission.Spending `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Len(t, list.Data, 1)
	assert.Equal(t, "team", list.Data[0].Name)
	assert.InDelta(t, 3*0.0032, list.Data[0].Spent, 1e-9)
	assert.Zero(t, list.Data[0].Held)
	assert.Equal(t, time.Now().UTC().Format("2006-01-02"), list.Data[0].Period)
}

// getAs sends a GET with key.
func (e *env) getAs(key, path string) (int, http.Header, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url(path), nil)
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}
