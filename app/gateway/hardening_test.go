package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
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

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	e := newEnv(t)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		status, _, body := e.post("/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"x"}]}`,
			"Authorization", scheme+" "+clientKey)
		assert.Equal(t, http.StatusOK, status, "%s: %s", scheme, body)
	}
	status, _, _ := e.post("/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"x"}]}`,
		"Authorization", "Basic "+clientKey)
	assert.Equal(t, http.StatusUnauthorized, status, "another scheme is not a bearer key")
}

func TestUpstreamRefusingTheGatewaysKeyIs502(t *testing.T) {
	e := newEnv(t, func(c *khive.Config, _ *gateway.Config) {
		up := c.Endpoints["up"]
		up.APIKey = endpoint.NewSecret("sk-wrong-upstream-key")
		c.Endpoints["up"] = up
	})
	for _, route := range []string{"/v1/chat/completions", "/v1/messages"} {
		status, _, body := e.post(route, `{"model":"up/m","max_tokens":8,"messages":[{"role":"user","content":"x"}]}`)
		assert.Equal(t, http.StatusBadGateway, status, "%s: the client's key is fine: %s", route, body)
		assert.Contains(t, body, `endpoint \"up\"`)
		assert.NotContains(t, body, "sk-wrong-upstream-key")
	}
	logged := e.logs.FilterMessage("the upstream refused the gateway's credentials").All()
	require.Len(t, logged, 2)
	assert.Equal(t, "up", logged[0].ContextMap()["endpoint"])
	assert.Equal(t, int64(http.StatusUnauthorized), logged[0].ContextMap()["status"])

	// An alias moves on to a target whose credentials work.
	status, h, body := e.post("/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"x"}]}`)
	assert.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "other", h.Get("X-Khive-Endpoint"))
}

func TestUnreachableUpstreamIsLogged(t *testing.T) {
	e := newEnv(t, func(c *khive.Config, _ *gateway.Config) {
		up := c.Endpoints["up"]
		up.BaseURL = "http://127.0.0.1:1/v1" // nothing listens there
		c.Endpoints["up"] = up
	})
	status, _, body := e.post("/v1/chat/completions", `{"model":"up/m","messages":[{"role":"user","content":"x"}]}`)
	assert.Equal(t, http.StatusBadGateway, status, body)
	warned := e.logs.FilterMessage("attempt failed").All()
	require.Len(t, warned, 2, "both attempts say why")
	f := warned[0].ContextMap()
	assert.Equal(t, "up", f["name"])
	assert.Equal(t, int64(1), f["attempt"])
	assert.Contains(t, f["error"], "connection refused")
	e.assertNoUpstreamKey()
}

func TestAmbiguousProviderModelListsTheCandidates(t *testing.T) {
	e := newEnv(t) // up and up-embed... and two chat endpoints of provider openai:
	status, _, body := e.post("/v1/chat/completions", `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"x"}]}`)
	require.Equal(t, http.StatusOK, status, "one openai chat endpoint: routable: %s", body)

	e = newEnv(t, func(c *khive.Config, _ *gateway.Config) {
		c.Endpoints["up2"] = c.Endpoints["up"]
	})
	status, _, body = e.post("/v1/chat/completions", `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"x"}]}`)
	assert.Equal(t, http.StatusBadRequest, status, body)
	assert.Contains(t, body, "ambiguous")
	assert.Contains(t, body, "up/gpt-4o")
	assert.Contains(t, body, "up2/gpt-4o")
	assert.Contains(t, body, `"param":"model"`)
}

func TestClientModelNamesDoNotGrowMetricsOrLogs(t *testing.T) {
	e := newEnv(t)
	e.post("/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`) // the route's series exist
	_, before := e.get("/metrics")
	for i := range 300 {
		model := strings.Repeat(string(rune('a'+i%26)), 10_000) + string(rune('A'+i/26))
		status, _, body := e.post("/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"x"}]}`)
		require.Equal(t, http.StatusNotFound, status)
		assert.Less(t, len(body), 1_000, "the 404 quotes a truncated name")
	}
	_, after := e.get("/metrics")
	assert.Less(t, len(after)-len(before), 1_000, "300 distinct 10 KB names add one series (model=other), not 300")
	assert.Contains(t, after, `model="other",route="chat",status="404"} 301`)
	for _, en := range e.logs.FilterMessage("request").All() {
		assert.LessOrEqual(t, len(en.ContextMap()["model"].(string)), 260, "log fields from clients are truncated")
	}
}

func TestModelsListsWhatCanBeRouted(t *testing.T) {
	e := newEnv(t, func(c *khive.Config, g *gateway.Config) {
		g.ModelsRefresh = 50 * time.Millisecond
		g.ModelsTimeout = time.Second
		g.Models = nil // no aliases: the upstreams' lists are all there is
		dead := c.Endpoints["other"]
		dead.BaseURL = "http://127.0.0.1:1/v1" // this one cannot be asked
		c.Endpoints["other"] = dead
	})
	ids := func() map[string]string {
		page, err := e.client().Models.List(context.Background())
		require.NoError(t, err)
		out := map[string]string{}
		for _, m := range page.Data {
			out[m.ID] = m.OwnedBy
		}
		return out
	}
	require.Eventually(t, func() bool { return len(ids()) == 3 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, map[string]string{
		"up/fake-model": "openai", "up-embed/fake-model": "openai", "claude/fake-model": "anthropic",
	}, ids(), "each endpoint's own models, owned by its provider; the unreachable one is left out")
	assert.NotEmpty(t, e.logs.FilterMessage("could not list the upstream's models").All(), "and its failure is logged")

	m, err := e.client().Models.Get(context.Background(), "claude/fake-model")
	require.NoError(t, err)
	assert.Equal(t, "anthropic", m.OwnedBy)
	status, _ := e.get("/v1/models/claude/fake-model")
	assert.Equal(t, http.StatusUnauthorized, status, "the models routes need a key like the others")
	status, _, body := e.getWithKey("/v1/models/nope/x")
	assert.Equal(t, http.StatusNotFound, status, body)
	assert.Contains(t, body, "model_not_found")
}

// The first run tells the truth: model-list refreshes of an upstream that
// is down (Ollama not running, say) never open the circuit the chat path
// shares, and the first chat request is tried and answered with the
// endpoint, its address and the reason.
func TestRefreshesOfADeadUpstreamDoNotOpenItsCircuit(t *testing.T) {
	e := newEnv(t, func(c *khive.Config, g *gateway.Config) {
		g.ModelsRefresh = 5 * time.Millisecond
		g.ModelsTimeout = time.Second
		dead := c.Endpoints["other"]
		dead.BaseURL = "http://127.0.0.1:1/v1"
		c.Endpoints["other"] = dead
	})
	refreshFailed := func() int {
		n := 0
		for _, l := range e.logs.FilterMessage("could not list the upstream's models").All() {
			if l.ContextMap()["endpoint"] == "other" {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return refreshFailed() > 6 }, 5*time.Second, 5*time.Millisecond,
		"more refreshes failed than the breaker's five consecutive failures")
	other, ok := e.reg.Get("other")
	require.True(t, ok)
	assert.Equal(t, endpoint.BreakerClosed, other.BreakerState(), "probes are not counted by the breaker")

	status, _, body := e.post("/v1/chat/completions", `{"model":"other/llama","messages":[{"role":"user","content":"hi"}]}`)
	assert.Equal(t, http.StatusBadGateway, status)
	assert.Contains(t, body, `endpoint \"other\": the upstream at 127.0.0.1:1 could not be reached: connection refused`)
	assert.NotContains(t, body, "circuit_open")
}

// A key sees only the models it may use, in the list and one by one.
func TestModelsListedPerKey(t *testing.T) {
	const narrow = "khive-narrow-key"
	e := newEnv(t, func(_ *khive.Config, g *gateway.Config) {
		g.Keys = append(g.Keys, admission.ClientKey{Key: narrow, Name: "narrow", Models: []string{"up/*", "fast"}})
	})
	list := func(key string) []string {
		req, err := http.NewRequest(http.MethodGet, e.url("/v1/models"), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out struct{ Data []struct{ ID string } }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		var ids []string
		for _, m := range out.Data {
			ids = append(ids, m.ID)
		}
		return ids
	}
	all, mine := list(clientKey), list(narrow)
	assert.Contains(t, all, "smart")
	assert.Contains(t, mine, "fast")
	assert.NotContains(t, mine, "smart", "an alias the key may not use")
	assert.NotContains(t, mine, "emb")
	for _, id := range mine {
		assert.True(t, id == "fast" || strings.HasPrefix(id, "up/"), "%s is not the key's", id)
	}
	get := func(path string) int {
		req, err := http.NewRequest(http.MethodGet, e.url(path), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+narrow)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, get("/v1/models/fast"))
	assert.Equal(t, http.StatusNotFound, get("/v1/models/smart"), "a model the key may not use does not exist for it")
}
