package fxmodule_test

import (
	"context"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
	khiveopenai "github.com/khive-go/khive/providers/openai"
)

// chatService takes its endpoints by name, as a user's service does.
type chatService struct {
	fx.In
	Chat  *endpoint.Endpoint `name:"chat"`
	Embed *endpoint.Endpoint `name:"embed"`
}

func TestNamedEndpointsAreInjected(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	embed := catalogEndpoint(up)
	embed.Endpoint = "embeddings"
	cfg := khive.Config{Endpoints: map[string]khive.EndpointConfig{"chat": catalogEndpoint(up), "embed": embed}}
	var got chatService
	cnt := &khivetest.Counting{}
	app := fxtest.New(t, fx.Supply(cfg), fx.NopLogger, khive.Module, khive.Named("chat", "embed"),
		khive.WithEndpointOptions("chat", endpoint.WithRoundTripper(cnt)),
		fx.Populate(&got))
	app.RequireStart()
	require.NotNil(t, got.Chat)
	assert.Equal(t, "chat", got.Chat.Name())
	assert.Equal(t, "embed", got.Embed.Name())

	out, err := khiveopenai.ClientOf(got.Chat).Chat.Completions.New(context.Background(), chatParams("named"))
	require.NoError(t, err)
	assert.Equal(t, "echo: named", out.Choices[0].Message.Content)
	assert.EqualValues(t, 1, cnt.Peak(), "the chat endpoint's own option (its round tripper) was applied")
	app.RequireStop()
}

func TestNamedFailsFxNewForAnUnknownName(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	cfg := khive.Config{Endpoints: map[string]khive.EndpointConfig{"chat": catalogEndpoint(up), "embed": catalogEndpoint(up)}}
	app := fx.New(fx.Supply(cfg), fx.NopLogger, khive.Module, khive.Named("chat", "claude"))
	err := app.Err()
	require.Error(t, err)
	assert.ErrorContains(t, err, `khive.Named: no endpoint "claude" in the config (configured: chat, embed)`)

	app = fx.New(fx.Supply(cfg), fx.NopLogger, khive.Module, khive.WithEndpointOptions("claude", endpoint.WithRoundTripper(&khivetest.Counting{})))
	require.Error(t, app.Err())
	assert.ErrorContains(t, app.Err(), `khive: endpoint options for "claude": no such endpoint in the config (configured: chat, embed)`)
}

func chatParams(text string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
	}
}
