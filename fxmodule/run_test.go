package fxmodule_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
	khiveopenai "github.com/khive-go/khive/providers/openai"
)

const runYAML = `
endpoints:
  chat: {provider: openai, endpoint: chat, base_url: "${RUN_TEST_BASE_URL}", api_key: "${RUN_TEST_KEY}"}
`

func TestRunStartsRunsAndStops(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	t.Setenv("RUN_TEST_BASE_URL", up.BaseURL())
	t.Setenv("RUN_TEST_KEY", secretKey)
	var chat *endpoint.Endpoint
	err := khive.Run(context.Background(), fx.Options(khive.ConfigYAML(runYAML), khive.Module),
		func(ctx context.Context, reg *khive.Registry) error {
			chat, _ = reg.Get("chat")
			_, err := khiveopenai.ClientOf(chat).Chat.Completions.New(ctx, chatParams("run"))
			return err
		})
	require.NoError(t, err)
	assert.EqualValues(t, 1, up.Requests())
	_, err = khiveopenai.ClientOf(chat).Chat.Completions.New(context.Background(), chatParams("after"))
	assert.ErrorIs(t, err, endpoint.ErrClosed, "the app was stopped")
}

func TestRunJoinsTheJobsErrorAndStops(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	log, _ := logged()
	failing := userEndpoint(t, up, "failing", sdkClosing(errors.New("close went wrong"), new(atomic.Int64)), log)
	err := khive.Run(context.Background(), fx.Options(fx.Supply(khive.Config{}), khive.Module, asGroup(failing)),
		func(context.Context, *khive.Registry) error { return errors.New("the job failed") })
	require.Error(t, err)
	assert.ErrorContains(t, err, "the job failed")
	assert.ErrorContains(t, err, `endpoint "failing": close client: close went wrong`, "stopped anyway, and its close failure returned")
}

func TestConfigYAMLErrorsFailRun(t *testing.T) {
	called := false
	err := khive.Run(context.Background(), fx.Options(khive.ConfigYAML("endpoints:\n  chat: {provider: openai, endpoint: chat, timeout: soon}\n"), khive.Module),
		func(context.Context, *khive.Registry) error { called = true; return nil })
	require.Error(t, err)
	assert.ErrorContains(t, err, "endpoints.chat.timeout")
	assert.False(t, called)
}
