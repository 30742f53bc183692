package gateway_test

import (
	"bufio"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
)

// fixture is a request body recorded from a real client (testdata/*.json,
// secrets and ids removed) with its model set.
func fixture(t *testing.T, name, model string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	s := strings.Replace(string(b), `"model": "MODEL"`, `"model": "`+model+`"`, 1)
	require.NotEqual(t, string(b), s, "the fixture names its model MODEL")
	return s
}

// sseTypes are the event names of an SSE body, in order.
func sseTypes(body string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			out = append(out, ev)
		}
	}
	return out
}

// Codex 0.171.0's first request (its default tools: functions, a
// namespace of sub-agent functions, web_search) on a chat target.
func TestCodexRequestOnATranslatedRoute(t *testing.T) {
	body := fixture(t, "codex-0.171.0-responses.json", "up/gpt-x")

	e := newEnv(t)
	status, _, resp := e.post("/v1/responses", body)
	assert.Equal(t, http.StatusBadRequest, status, "refused by default: a chat endpoint cannot search the web")
	assert.Contains(t, resp, `"param":"tools[8].type"`)
	assert.Contains(t, resp, "web_search")
	assert.Contains(t, resp, "unsupported_tools: drop")

	e = newEnv(t, func(_ *khive.Config, g *gateway.Config) { g.UnsupportedTools = map[string]string{"up": "drop"} })
	status, _, resp = e.post("/v1/responses", body)
	require.Equal(t, http.StatusOK, status, resp)
	types := sseTypes(resp)
	require.NotEmpty(t, types)
	assert.Equal(t, "response.created", types[0])
	assert.Equal(t, "response.completed", types[len(types)-1])
	assert.Contains(t, types, "response.output_item.done", "Codex reads finished items")

	sent := e.ups["up"].Last().Body
	var names []string
	for _, tl := range sent["tools"].([]any) {
		fn := tl.(map[string]any)["function"].(map[string]any)
		names = append(names, fn["name"].(string))
	}
	assert.Contains(t, names, "exec_command")
	assert.Contains(t, names, "multi_agent_v1__spawn_agent", "the namespace's functions, flattened")
	for _, n := range names {
		assert.NotContains(t, n, "web_search")
	}
	msgs := sent["messages"].([]any)
	assert.Equal(t, "system", msgs[0].(map[string]any)["role"], "the developer message became the system message")
	_, metrics := e.get("/metrics")
	assert.Contains(t, metrics, `khive_gateway_dropped_tools_total{endpoint="up",type="web_search"} 1`)
}

// Claude Code 2.1.197's request (24 tools, thinking, context_management,
// betas) passed through to Anthropic and translated to chat.
func TestClaudeCodeRequestPassedThroughAndTranslated(t *testing.T) {
	e := newEnv(t)
	body := fixture(t, "claude-code-2.1.197-messages.json", "claude/claude-sonnet-4-5")
	betas := "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27"
	status, _, resp := e.post("/v1/messages", body, "anthropic-version", "2023-06-01", "anthropic-beta", betas,
		"x-claude-code-session-id", "sess-1")
	require.Equal(t, http.StatusOK, status, resp)
	last := e.ups["anth"].Last()
	assert.Equal(t, betas, last.Header.Get("anthropic-beta"), "betas forwarded as sent")
	assert.Equal(t, "sess-1", last.Header.Get("x-claude-code-session-id"))
	assert.Contains(t, last.Body, "context_management", "the body passes through whole")
	assert.Len(t, last.Body["tools"], 24)

	body = fixture(t, "claude-code-2.1.197-messages.json", "up/gpt-x")
	status, _, resp = e.post("/v1/messages", body, "anthropic-version", "2023-06-01", "anthropic-beta", betas)
	require.Equal(t, http.StatusOK, status, resp)
	types := sseTypes(resp)
	require.NotEmpty(t, types)
	assert.Equal(t, "message_start", types[0])
	assert.Equal(t, "message_stop", types[len(types)-1])
	sent := e.ups["up"].Last().Body
	assert.Len(t, sent["tools"], 24, "every tool carried to chat")
	assert.Equal(t, "system", sent["messages"].([]any)[0].(map[string]any)["role"])
}

// An Anthropic server tool on a chat target: refused naming it, or with
// unsupported_tools: drop, left out and counted.
func TestMessagesServerToolOnAChatTarget(t *testing.T) {
	body := `{"model":"up/gpt-x","max_tokens":50,"messages":[{"role":"user","content":"hi"}],
		"tools":[{"type":"web_search_20250305","name":"web_search"},{"name":"lookup","input_schema":{"type":"object"}}]}`
	e := newEnv(t)
	status, _, resp := e.post("/v1/messages", body, "anthropic-version", "2023-06-01")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, resp, "web_search_20250305")
	assert.Contains(t, resp, `"type":"error"`, "in Anthropic's format")

	e = newEnv(t, func(_ *khive.Config, g *gateway.Config) { g.UnsupportedTools = map[string]string{"up": "drop"} })
	status, _, resp = e.post("/v1/messages", body, "anthropic-version", "2023-06-01")
	require.Equal(t, http.StatusOK, status, resp)
	tools := e.ups["up"].Last().Body["tools"].([]any)
	require.Len(t, tools, 1)
	assert.Equal(t, "lookup", tools[0].(map[string]any)["function"].(map[string]any)["name"])
	_, metrics := e.get("/metrics")
	assert.Contains(t, metrics, `khive_gateway_dropped_tools_total{endpoint="up",type="web_search_20250305"} 1`)
}
