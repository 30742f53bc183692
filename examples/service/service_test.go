package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
	khiveopenai "github.com/khive-go/khive/providers/openai"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// closeFails is openai-go's SDK transport with a Close that fails, as a
// client whose pool is already torn down would.
type closeFails struct{ endpoint.SDKClient }

func (closeFails) Close() error { return errors.New("pool already torn down") }

func TestService(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	up.Key = "sk-test"
	for k, v := range map[string]string{"OPENAI_BASE_URL": up.BaseURL(), "ANTHROPIC_BASE_URL": up.BaseURL(),
		"OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": "sk-test"} {
		t.Setenv(k, v)
	}
	core, logs := observer.New(zap.InfoLevel)

	var svc *Service
	var reg *khive.Registry
	app := fxtest.New(t, fx.Supply(zap.New(core)), fx.NopLogger, Module,
		fx.Decorate(func(cfg khive.Config) khive.Config {
			chat := cfg.Endpoints["chat"]
			chat.Transport = endpoint.TransportSDK // so that the endpoint holds an SDK client to close
			cfg.Endpoints["chat"] = chat
			return cfg
		}),
		khive.WithEndpointOptions("chat", endpoint.WithSDK(func(ctx context.Context, c endpoint.Config, hc *http.Client) (endpoint.SDKClient, error) {
			sdk, err := khiveopenai.NewSDK(ctx, c, hc)
			return closeFails{sdk}, err
		})),
		fx.Populate(&svc, &reg))
	app.RequireStart()
	ctx := context.Background()

	for name, ask := range map[string]func(context.Context, string) (string, error){
		"Ask": svc.Ask, "AskStream": svc.AskStream, "AskClaude": svc.AskClaude, "AskClaudeStream": svc.AskClaudeStream,
	} {
		answer, err := ask(ctx, "hello")
		require.NoError(t, err, name)
		assert.Equal(t, "echo: hello", answer, name)
	}

	chatEP, _ := reg.Get("chat")
	sent, retries := up.Requests(), chatEP.Retries()
	up.Script(khivetest.Fault{Kind: khivetest.Status, Status: 429,
		Headers: map[string]string{"Retry-After": "1", "Retry-After-Ms": "20"}}) // as OpenAI sends them
	answer, err := svc.Ask(ctx, "after a 429")
	require.NoError(t, err)
	assert.Equal(t, "echo: after a 429", answer)
	assert.EqualValues(t, 2, up.Requests()-sent, "the 429 and one retry")
	assert.EqualValues(t, 1, chatEP.Retries()-retries, "retried by khive")
	assert.Equal(t, "0", up.Last().Header.Get("X-Stainless-Retry-Count"), "not by the SDK")

	qs := make([]string, 50)
	for i := range qs {
		qs[i] = fmt.Sprintf("q%d", i)
	}
	answers, err := svc.Batch(ctx, qs)
	require.NoError(t, err)
	require.Len(t, answers, 50)
	for i, a := range answers {
		assert.Equal(t, "echo: "+qs[i], a, "in input order")
	}

	err = app.Stop(ctx)
	require.Error(t, err, "the failing close is returned")
	assert.ErrorContains(t, err, `endpoint "chat": close client: pool already torn down`)
	failed := logs.FilterMessage("endpoint close failed").All()
	require.Len(t, failed, 1)
	fields := failed[0].ContextMap()
	assert.Equal(t, "chat", fields["name"])
	assert.Equal(t, "openai", fields["provider"])
	assert.Contains(t, fields["error"], "pool already torn down")
}
