package fxmodule_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/fxmodule"
	"github.com/khive-go/khive/internal/fielderr"
)

func TestDecodeYAMLTypesAfterExpansion(t *testing.T) {
	env := map[string]string{"NUMKEY": "123456", "BOOLKEY": "true", "TRICKY": "a: b # not a comment", "TIMEOUT": "45s"}
	var c fxmodule.Config
	err := fxmodule.DecodeYAML([]byte(`
endpoints:
  a:
    provider: custom
    base_url: https://x.example
    api_key: ${NUMKEY}
    timeout: ${TIMEOUT}
    allow_insecure: ${BOOLKEY}
  b:
    provider: custom
    base_url: https://x.example
    api_key: ${TRICKY}
  c:
    provider: custom
    base_url: https://x.example
    api_key: '${BOOLKEY}'
`), &c, func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, "123456", c.Endpoints["a"].APIKey.Reveal(), "a numeric key stays a string")
	assert.Equal(t, 45*time.Second, c.Endpoints["a"].Timeout)
	assert.True(t, c.Endpoints["a"].AllowInsecure)
	assert.Equal(t, "a: b # not a comment", c.Endpoints["b"].APIKey.Reveal(), "values are not re-parsed as YAML")
	assert.Equal(t, "true", c.Endpoints["c"].APIKey.Reveal())
}

func TestDecodeYAMLEmpty(t *testing.T) {
	var c fxmodule.Config
	require.NoError(t, fxmodule.DecodeYAML(nil, &c, func(string) string { return "" }))
	assert.NoError(t, c.Validate())
}

func TestZapEventLogger(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	app := fx.New(fx.Supply(zap.New(core)), fx.WithLogger(fxmodule.ZapEventLogger), fx.Invoke(func() {}))
	require.NoError(t, app.Err())
	fxLogs := logs.FilterLoggerName("fx").All()
	require.NotEmpty(t, fxLogs, "fx's events go to the application's logger, named fx")
	for _, e := range fxLogs {
		assert.Equal(t, zap.DebugLevel, e.Level, "routine events at Debug")
	}
}

func TestEveryConfigProblemIsAFieldErrorWithItsPath(t *testing.T) {
	ec := khive.EndpointConfig{Endpoint: "chat"}
	ec.Provider, ec.Transport, ec.Timeout = "openai", "carrier-pigeon", -time.Second
	ec.Limits.Burst = -1
	err := khive.Config{
		Executor:  executor.Config{Limits: executor.Limits{MaxConcurrency: -1}},
		Endpoints: map[string]khive.EndpointConfig{"chat": ec},
	}.Validate()
	var paths []string
	for _, e := range fielderr.Unjoin(err) {
		var fe *fielderr.Error
		require.True(t, errors.As(e, &fe), "%v is a FieldError", e)
		paths = append(paths, fe.Path)
	}
	assert.ElementsMatch(t, []string{
		"executor.max_concurrency", "endpoints.chat.api_key", "endpoints.chat.transport",
		"endpoints.chat.timeout", "endpoints.chat.limits.burst",
	}, paths)
}
