package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/khivetest"
)

// `go run ./app -demo` serves every route at once, without a key: what the
// README's first commands curl.
func TestDemoServesEveryRoute(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	file := demoFile(up)
	require.NoError(t, file.Validate())
	file.Gateway.Listen = "127.0.0.1:0"
	var srv *gateway.Server
	app := fxtest.New(t, fx.Supply(file.Config, file.Gateway, zap.NewNop()), fx.NopLogger, khive.Module, gateway.Module, fx.Populate(&srv))
	app.RequireStart()
	defer app.RequireStop()

	post := func(path, body string) (int, string) {
		resp, err := http.Post("http://"+srv.Addr()+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	for _, tt := range []struct{ path, body, want string }{
		{"/v1/chat/completions", `{"model":"demo/any","messages":[{"role":"user","content":"Hello"}]}`, "echo: Hello"},
		{"/v1/chat/completions", `{"model":"demo/any","stream":true,"messages":[{"role":"user","content":"Hello"}]}`, "data: [DONE]"},
		{"/v1/chat/completions", `{"model":"demo-claude/any","messages":[{"role":"user","content":"Hello"}]}`, "echo: Hello"},
		{"/v1/messages", `{"model":"demo-claude/any","max_tokens":64,"messages":[{"role":"user","content":"Hello"}]}`, `"type":"message"`},
		{"/v1/messages", `{"model":"demo/any","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`, "message_stop"},
		{"/v1/responses", `{"model":"demo-responses/any","input":"Hello"}`, `"object":"response"`},
		{"/v1/responses", `{"model":"demo/any","input":"Hello"}`, `"status":"completed"`},
		{"/v1/embeddings", `{"model":"demo-embeddings/any","input":"Hello"}`, `"embedding"`},
	} {
		status, body := post(tt.path, tt.body)
		assert.Equal(t, http.StatusOK, status, "%s %s: %s", tt.path, tt.body, body)
		assert.Contains(t, body, tt.want, "%s %s", tt.path, tt.body)
	}
	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(b), `khive_gateway_requests_total{endpoint="demo",model="demo",route="chat",status="200"}`)
	assert.NotContains(t, string(b), "demo-key", "the demo key is a key like any other: it does not leak")
}
