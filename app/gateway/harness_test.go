package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/app/gateway/admission"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
)

const (
	clientKey   = "khive-client-key"
	upstreamKey = "sk-upstream-never-leaks"
)

// env is one gateway in front of fake upstreams, as `go run ./app` would run it.
type env struct {
	t    testing.TB
	app  *fxtest.App
	srv  *gateway.Server
	reg  *khive.Registry
	logs *observer.ObservedLogs
	ups  map[string]*khivetest.Server
}

type option_ func(*khive.Config, *gateway.Config)

// upstreamEndpoint is a catalog openai endpoint pointed at a fake.
func upstreamEndpoint(up *khivetest.Server, kind string) khive.EndpointConfig {
	ec := khive.EndpointConfig{Endpoint: kind}
	ec.Provider = "openai"
	ec.BaseURL = up.BaseURL()
	ec.APIKey = endpoint.NewSecret(upstreamKey)
	ec.Retry = endpoint.RetryConfig{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
	return ec
}

// newEnv starts upstreams "up" and "other" with chat and embeddings
// endpoints up, up-embed, other; aliases fast (up, then other) and emb.
func newEnv(t *testing.T, opts ...option_) *env {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	e := startEnv(t, zap.New(core), nil, opts...)
	e.logs = logs
	return e
}

// newEnvWithFx is newEnv with more fx options (a tracer provider, say).
func newEnvWithFx(t *testing.T, fxOpts []fx.Option, opts ...option_) *env {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	e := startEnv(t, zap.New(core), fxOpts, opts...)
	e.logs = logs
	return e
}

// newBenchEnv logs as production does: JSON at Info, here to nowhere.
func newBenchEnv(b *testing.B, opts ...option_) *env {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return startEnv(b, zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zap.InfoLevel)), nil, opts...)
}

func startEnv(t testing.TB, log *zap.Logger, fxOpts []fx.Option, opts ...option_) *env {
	e := &env{t: t, ups: map[string]*khivetest.Server{}}
	for _, n := range []string{"up", "other", "anth"} {
		up := khivetest.New()
		up.Key = upstreamKey
		t.Cleanup(up.Close)
		e.ups[n] = up
	}
	cfg := khive.Config{Endpoints: map[string]khive.EndpointConfig{
		"up":       upstreamEndpoint(e.ups["up"], "chat"),
		"up-embed": upstreamEndpoint(e.ups["up"], "embeddings"),
		"other":    upstreamEndpoint(e.ups["other"], "chat"),
	}}
	claude := upstreamEndpoint(e.ups["anth"], "messages")
	claude.Provider = "anthropic"
	cfg.Endpoints["claude"] = claude
	other := cfg.Endpoints["other"]
	other.Provider = "groq-like"
	other.Endpoint = ""
	other.Path = "chat/completions"
	cfg.Endpoints["other"] = other
	gcfg := gateway.Config{
		Listen: "127.0.0.1:0",
		Keys:   admission.Keys(clientKey),
		Models: map[string][]gateway.Target{
			"fast":  {{Endpoint: "up", Model: "gpt-4o-mini"}, {Endpoint: "other", Model: "llama-3.3-70b-versatile"}},
			"emb":   {{Endpoint: "up-embed", Model: "text-embedding-3-small"}},
			"smart": {{Endpoint: "claude", Model: "claude-sonnet-4-5"}, {Endpoint: "up", Model: "gpt-4.1"}},
		},
		ShutdownTimeout: 2 * time.Second,
		ModelsRefresh:   -1, // the upstreams' lists are asked for only where a test wants them
	}
	for _, o := range opts {
		o(&cfg, &gcfg)
	}
	e.app = fxtest.New(t, append([]fx.Option{fx.Supply(cfg, gcfg, log), fx.NopLogger, khive.Module, gateway.Module,
		fx.Populate(&e.srv, &e.reg)}, fxOpts...)...)
	e.app.RequireStart()
	t.Cleanup(func() { _ = e.app.Stop(context.Background()) })
	return e
}

func (e *env) url(path string) string { return "http://" + e.srv.Addr() + path }

type openaiStream = ssestream.Stream[openai.ChatCompletionChunk]

func (e *env) client(opts ...option.RequestOption) *openai.Client {
	c := openai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(e.url("/v1/")), option.WithAPIKey(clientKey), option.WithMaxRetries(0),
	}, opts...)...)
	return &c
}

// post sends a raw JSON body and returns status, headers and body.
func (e *env) post(path, body string, headers ...string) (int, http.Header, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url(path), strings.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+clientKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// getWithKey sends a GET with the default client key.
func (e *env) getWithKey(path string) (int, http.Header, string) {
	e.t.Helper()
	return e.getAs(clientKey, path)
}

func (e *env) get(path string) (int, string) {
	e.t.Helper()
	resp, err := http.Get(e.url(path))
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// assertNoUpstreamKey checks the provider key reached no log entry.
func (e *env) assertNoUpstreamKey() {
	e.t.Helper()
	for _, en := range e.logs.All() {
		assert.NotContains(e.t, en.Message, upstreamKey)
		for k, v := range en.ContextMap() {
			assert.NotContains(e.t, fmt.Sprint(v), upstreamKey, "field %s", k)
		}
	}
}
