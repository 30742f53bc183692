package fxmodule_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/fxmodule"
	"github.com/khive-go/khive/khivetest"
	"github.com/khive-go/khive/providers"
)

const secretKey = "sk-fx-test-secret-4242"

func logged() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	return zap.New(core), logs
}

// catalogEndpoint is a catalog reference pointed at the fake upstream.
func catalogEndpoint(up *khivetest.Server) khive.EndpointConfig {
	ec := khive.EndpointConfig{Endpoint: "chat"}
	ec.Provider = "openai"
	ec.BaseURL = up.BaseURL()
	ec.APIKey = endpoint.NewSecret(secretKey)
	return ec
}

func assertNoSecret(t *testing.T, logs *observer.ObservedLogs, errs ...error) {
	t.Helper()
	for _, e := range logs.All() {
		assert.NotContains(t, e.Message, secretKey)
		for k, v := range e.ContextMap() {
			assert.NotContains(t, fmt.Sprint(v), secretKey, "field %s", k)
		}
	}
	for _, err := range errs {
		if err != nil {
			assert.NotContains(t, err.Error(), secretKey)
		}
	}
}

// userService depends on the shared executor and logs its lifecycle.
type userService struct{ exec executor.Executor }

func newUserService(lc fx.Lifecycle, exec executor.Executor, log *zap.Logger) *userService {
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { log.Info("user service started"); return nil },
		OnStop:  func(context.Context) error { log.Info("user service stopped"); return nil },
	})
	return &userService{exec: exec}
}

// lifecycleEvents reads start/stop entries of the components in order.
func lifecycleEvents(logs *observer.ObservedLogs) []string {
	var out []string
	for _, e := range logs.All() {
		f := e.ContextMap()
		switch e.Message {
		case "endpoint started", "endpoint stopped":
			out = append(out, fmt.Sprintf("%s %s", f["name"], strings.TrimPrefix(e.Message, "endpoint ")))
		case "executor started", "executor stopped":
			if f["name"] == "khive" {
				out = append(out, "executor "+strings.TrimPrefix(e.Message, "executor "))
			}
		case "user service started", "user service stopped":
			out = append(out, e.Message)
		}
	}
	return out
}

func TestStartAndStopOrder(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	log, logs := logged()
	cfg := khive.Config{Endpoints: map[string]khive.EndpointConfig{
		"c": catalogEndpoint(up), "a": catalogEndpoint(up), "b": catalogEndpoint(up),
	}}
	app := fxtest.New(t, fx.Supply(cfg), fx.Supply(log), fx.NopLogger, khive.Module,
		fx.Provide(newUserService), fx.Invoke(func(*userService) {}))
	app.RequireStart()
	app.RequireStop()
	assert.Equal(t, []string{
		"a started", "b started", "c started", "executor started", "user service started",
		"user service stopped", "executor stopped", "c stopped", "b stopped", "a stopped",
	}, lifecycleEvents(logs))
	assertNoSecret(t, logs)
}

// failingSDK fails on Start, closingSDK's Close fails.
type stubSDK struct {
	hc       *http.Client
	closeErr error
	closed   *atomic.Int64
}

func (s *stubSDK) Do(req *http.Request) (*http.Response, error) { return s.hc.Do(req) }
func (s *stubSDK) Close() error                                 { s.closed.Add(1); return s.closeErr }

func userEndpoint(t *testing.T, up *khivetest.Server, name string, factory endpoint.SDKFactory, log *zap.Logger) *endpoint.Endpoint {
	t.Helper()
	e, err := endpoint.New(endpoint.Config{
		Name: name, Provider: "custom", Transport: endpoint.TransportSDK, BaseURL: up.BaseURL(),
		Path: "chat/completions", APIKey: endpoint.NewSecret(secretKey),
	}, endpoint.WithSDK(factory), endpoint.WithLogger(log.Named("khive")))
	require.NoError(t, err)
	return e
}

func sdkClosing(closeErr error, closed *atomic.Int64) endpoint.SDKFactory {
	return func(_ context.Context, _ endpoint.Config, hc *http.Client) (endpoint.SDKClient, error) {
		return &stubSDK{hc: hc, closeErr: closeErr, closed: closed}, nil
	}
}

func asGroup(e *endpoint.Endpoint) fx.Option {
	return fx.Supply(fx.Annotate(e, fx.ResultTags(`group:"khive.endpoints"`)))
}

func TestFailingStartRollsBack(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	log, logs := logged()
	var closed atomic.Int64
	broken := userEndpoint(t, up, "b-broken", func(context.Context, endpoint.Config, *http.Client) (endpoint.SDKClient, error) {
		return nil, errors.New("sdk refused the config")
	}, log)
	cfg := khive.Config{Endpoints: map[string]khive.EndpointConfig{"a": catalogEndpoint(up)}}
	app := fx.New(fx.Supply(cfg), fx.Supply(log), fx.NopLogger, khive.Module, asGroup(broken),
		asGroup(userEndpoint(t, up, "c", sdkClosing(nil, &closed), log)))
	require.NoError(t, app.Err())
	err := app.Start(context.Background())
	require.Error(t, err)
	assert.ErrorContains(t, err, `endpoint "b-broken": start sdk client: sdk refused the config`)
	assert.Equal(t, []string{"a started", "a stopped"}, lifecycleEvents(logs), "a rolled back; c never started")
	assert.Zero(t, closed.Load())
	assertNoSecret(t, logs, err)
}

func TestCloseFailuresAreLoggedAndReturned(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	log, logs := logged()
	var closed atomic.Int64
	app := fxtest.New(t, fx.Supply(khive.Config{}), fx.Supply(log), fx.NopLogger, khive.Module,
		asGroup(userEndpoint(t, up, "one", sdkClosing(errors.New("first close failed"), &closed), log)),
		asGroup(userEndpoint(t, up, "two", sdkClosing(errors.New("second close failed"), &closed), log)),
		asGroup(userEndpoint(t, up, "three", sdkClosing(nil, &closed), log)),
	)
	app.RequireStart()
	err := app.Stop(context.Background())
	require.Error(t, err)
	assert.ErrorContains(t, err, "first close failed")
	assert.ErrorContains(t, err, "second close failed")
	assert.Equal(t, int64(3), closed.Load(), "the third endpoint still closed")

	entries := logs.FilterMessage("endpoint close failed").All()
	require.Len(t, entries, 2, "each failure logged once")
	for _, e := range entries {
		f := e.ContextMap()
		assert.Equal(t, "endpoint", f["component"])
		assert.Contains(t, []any{"one", "two"}, f["name"])
		assert.Equal(t, "custom", f["provider"])
		assert.Equal(t, "sdk", f["transport"])
		assert.Contains(t, f["error"], "close failed")
	}
	assertNoSecret(t, logs, err)
}

func TestShutdownUnderLoad(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	up.SetLatency(300 * time.Millisecond)
	up.Script(make([]khivetest.Fault, 100)...) // the first 100 answer after the latency
	up.Always(khivetest.Fault{Kind: khivetest.Hang})
	log, logs := logged()
	ec := catalogEndpoint(up)
	ec.Limits = endpoint.Limits{MaxConcurrency: 256}
	ec.Breaker.Disabled = true
	var reg *khive.Registry
	var exec executor.Executor
	app := fxtest.New(t, fx.Supply(khive.Config{Endpoints: map[string]khive.EndpointConfig{"slow": ec}}),
		fx.Supply(log), fx.NopLogger, khive.Module, fx.Populate(&reg, &exec))
	app.RequireStart()
	e, ok := reg.Get("slow")
	require.True(t, ok)

	var okCalls, failedCalls atomic.Int64
	var wg sync.WaitGroup
	body := map[string]any{"model": "m", "messages": []any{map[string]any{"role": "user", "content": "hi"}}}
	for range 200 {
		wg.Go(func() {
			if _, err := e.Call(context.Background(), endpoint.Request{Body: body}); err != nil {
				failedCalls.Add(1)
			} else {
				okCalls.Add(1)
			}
		})
	}
	// A user service's work on the shared executor: some finish, some are stuck.
	var tasksDone, tasksCancelled atomic.Int64
	for i := range 20 {
		require.NoError(t, exec.Go(context.Background(), func(ctx context.Context) error {
			d := 100 * time.Millisecond
			if i%2 == 1 {
				d = time.Hour
			}
			select {
			case <-time.After(d):
				tasksDone.Add(1)
				return nil
			case <-ctx.Done():
				tasksCancelled.Add(1)
				return ctx.Err()
			}
		}))
	}
	for up.InFlight() < 200 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	began := time.Now()
	err := app.Stop(ctx)
	took := time.Since(began)
	// The shared executor used the whole deadline, so fx ran no endpoint
	// hook; the module must still have stopped the endpoint, or these calls
	// would hang.
	waitOrFail(t, &wg, 5*time.Second)

	require.Error(t, err, "work was cancelled at the deadline")
	assert.Less(t, took, time.Second+500*time.Millisecond, "Stop returns within the deadline and a small margin")
	assert.Equal(t, int64(100), okCalls.Load(), "calls answered before the deadline succeed")
	assert.Equal(t, int64(100), failedCalls.Load(), "the rest get an error")
	assert.Equal(t, int64(10), tasksDone.Load())
	assert.Equal(t, int64(10), tasksCancelled.Load())
	var cancelledLogged int64
	for _, en := range logs.FilterMessage("executor stop cancelled tasks").All() {
		cancelledLogged += en.ContextMap()["cancelled"].(int64)
	}
	assert.Positive(t, cancelledLogged, "counts of cancelled work are logged")
	assertNoSecret(t, logs, err)
}

func TestEndpointsAreCollectedAfterStop(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	var weaks []weak.Pointer[endpoint.Endpoint]
	func() {
		var reg *khive.Registry
		app := fxtest.New(t, fx.Supply(khive.Config{Endpoints: map[string]khive.EndpointConfig{"x": catalogEndpoint(up), "y": catalogEndpoint(up)}}),
			fx.NopLogger, fx.Supply(zap.NewNop()), khive.Module, fx.Populate(&reg))
		app.RequireStart()
		for _, e := range reg.All() {
			_, err := e.Call(context.Background(), endpoint.Request{Body: map[string]any{"model": "m", "messages": []any{}}})
			require.NoError(t, err)
			weaks = append(weaks, weak.Make(e))
		}
		app.RequireStop()
	}()
	require.Len(t, weaks, 2)
	for range 5 {
		runtime.GC()
	}
	for _, w := range weaks {
		assert.Nil(t, w.Value(), "a stopped endpoint, its client and pool are unreachable")
	}
}

func TestConfigErrorsFailFxNewBeforeAnythingStarts(t *testing.T) {
	log, logs := logged()
	bad := khive.EndpointConfig{Endpoint: "chat"}
	bad.Provider = "openai"
	bad.BaseURL = "http://example.com/v1" // insecure
	bad.Timeout = -time.Second
	bad.APIKey = endpoint.NewSecret(secretKey)
	unknown := khive.EndpointConfig{Endpoint: "chat"}
	unknown.Provider = "nope"
	cfg := khive.Config{Executor: executor.Config{Limits: executor.Limits{MaxConcurrency: -1}}, Endpoints: map[string]khive.EndpointConfig{"bad": bad, "unknown": unknown}}
	app := fx.New(fx.Supply(cfg), fx.Supply(log), fx.NopLogger, khive.Module)
	err := app.Err()
	require.Error(t, err)
	for _, want := range []string{
		"executor.max_concurrency: must be >= 0",
		"endpoints.bad.base_url: http:// to non-loopback host",
		"endpoints.bad.timeout: must be >= 0",
		`endpoints.unknown.provider: unknown "nope"`,
	} {
		assert.ErrorContains(t, err, want)
	}
	assert.Empty(t, lifecycleEvents(logs), "nothing started")
	assert.NotContains(t, fmt.Sprintf("%+v", cfg), secretKey)
	assertNoSecret(t, logs, err)
}

func TestUserEndpointThroughValueGroup(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	log, logs := logged()
	var closed atomic.Int64
	mine := userEndpoint(t, up, "mine", sdkClosing(nil, &closed), log)
	var reg *khive.Registry
	app := fxtest.New(t, fx.Supply(khive.Config{Endpoints: map[string]khive.EndpointConfig{"cfg": catalogEndpoint(up)}}),
		fx.Supply(log), fx.NopLogger, khive.Module, asGroup(mine), fx.Populate(&reg))
	app.RequireStart()
	assert.Equal(t, []string{"cfg", "mine"}, reg.Names())
	got, ok := reg.Get("mine")
	require.True(t, ok)
	assert.Same(t, mine, got)
	_, err := got.Call(context.Background(), endpoint.Request{Body: map[string]any{"model": "m", "messages": []any{}}})
	require.NoError(t, err, "started by the module's hook")
	app.RequireStop()
	assert.Equal(t, int64(1), closed.Load(), "stopped by the module's hook")
	assert.Equal(t, []string{"cfg started", "mine started", "executor started", "executor stopped", "mine stopped", "cfg stopped"}, lifecycleEvents(logs))
}

func TestDuplicateEndpointName(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	log, _ := logged()
	var closed atomic.Int64
	app := fx.New(fx.Supply(khive.Config{Endpoints: map[string]khive.EndpointConfig{"mine": catalogEndpoint(up)}}),
		fx.Supply(log), fx.NopLogger, khive.Module, asGroup(userEndpoint(t, up, "mine", sdkClosing(nil, &closed), log)))
	assert.ErrorContains(t, app.Err(), `endpoint "mine" is defined twice`)
}

func TestLoadConfigFile(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "khive.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
executor:
  max_concurrency: ${KHIVE_TEST_CONC:-8}
  queue_size: 32
endpoints:
  chat:
    provider: openai
    endpoint: chat
    base_url: `+up.BaseURL()+`
    api_key: ${KHIVE_TEST_KEY}
    timeout: 30s
    limits: {requests_per_minute: 600, burst: 5, max_wait: 250ms, adaptive: true}
  raw:
    provider: custom
    base_url: https://api.example.com/v1
    path: things/{id}
    auth: x-api-key
    api_key: "${KHIVE_TEST_KEY}"
`), 0o600))
	t.Setenv("KHIVE_TEST_KEY", secretKey)
	cfg, err := khive.LoadConfig(path)
	require.NoError(t, err)
	assert.Equal(t, 8, cfg.Executor.MaxConcurrency, "default applied")
	assert.Equal(t, 32, cfg.Executor.QueueSize)
	assert.Equal(t, secretKey, cfg.Endpoints["chat"].APIKey.Reveal())
	assert.Equal(t, 30*time.Second, cfg.Endpoints["chat"].Timeout)
	assert.Equal(t, 250*time.Millisecond, cfg.Endpoints["chat"].Limits.MaxWait)
	assert.True(t, cfg.Endpoints["chat"].Limits.Adaptive)
	assert.Equal(t, "x-api-key", cfg.Endpoints["raw"].Auth)
	assert.NotContains(t, fmt.Sprintf("%+v", cfg), secretKey)

	// The loaded config runs.
	var reg *khive.Registry
	app := fxtest.New(t, fx.Supply(cfg), fx.Supply(zap.NewNop()), fx.NopLogger, khive.Module, fx.Populate(&reg))
	app.RequireStart()
	assert.Equal(t, []string{"chat", "raw"}, reg.Names())
	app.RequireStop()

	t.Setenv("KHIVE_TEST_CONC", "3")
	cfg, err = khive.LoadConfig(path)
	require.NoError(t, err)
	assert.Equal(t, 3, cfg.Executor.MaxConcurrency)
}

func TestLoadConfigRejectsUnknownFieldsAndReportsPaths(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.yaml")
	require.NoError(t, os.WriteFile(unknown, []byte("endpoints:\n  x:\n    provider: openai\n    endpont: chat\n"), 0o600))
	_, err := khive.LoadConfig(unknown)
	assert.ErrorContains(t, err, "endpoints.x.endpont: unknown field")

	invalid := filepath.Join(dir, "invalid.yaml")
	require.NoError(t, os.WriteFile(invalid, []byte(`
endpoints:
  openai-chat:
    provider: openai
    endpoint: chat
    api_key: k
    timeout: -5s
  exa:
    provider: exa
    endpoint: search
    retry: {max_attempts: -2}
`), 0o600))
	t.Setenv("EXA_API_KEY", "")
	_, err = khive.LoadConfig(invalid)
	assert.ErrorContains(t, err, "endpoints.openai-chat.timeout: must be >= 0")
	assert.ErrorContains(t, err, "endpoints.exa.api_key: not set: set EXA_API_KEY or api_key")
	assert.ErrorContains(t, err, "endpoints.exa.retry.max_attempts: must be >= 0", "other fields are still checked")
	assert.NotContains(t, err.Error(), "api_key: is required", "the key error is not repeated")
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "x", "EMPTY": ""}
	get := func(k string) string { return env[k] }
	for in, want := range map[string]string{
		"${A}":             "x",
		"pre-${A}-post":    "pre-x-post",
		"${MISSING}":       "",
		"${MISSING:-dflt}": "dflt",
		"${EMPTY:-dflt}":   "dflt",
		"${A:-dflt}":       "x",
		"$A and ${":        "$A and ${",
		"${A}${A}":         "xx",
	} {
		assert.Equal(t, want, fxmodule.Expand(in, get), in)
	}
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatal("calls still hanging after Stop")
	}
}

// Transport sdk follows one rule on every path: an endpoint gets the SDK
// of its provider from the catalog, and a provider without one is refused,
// by LoadConfig (naming the field) as by endpoint.New and NewEndpoint.
func TestTransportSDKNeedsAProviderWithAnSDK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sdk.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
endpoints:
  own:
    provider: custom
    transport: sdk
    base_url: http://127.0.0.1:9/v1
    path: chat/completions
    auth: none
  groq:
    provider: groq
    endpoint: chat
    transport: sdk
    api_key: k
`), 0o600))
	_, err := khive.LoadConfig(path)
	require.Error(t, err)
	assert.ErrorContains(t, err, `endpoints.own.transport: provider "custom" has no SDK in khive (transport sdk is for anthropic, deepseek, gemini, groq, mistral, ollama, openai, openrouter, perplexity, together)`)
	assert.NotContains(t, err.Error(), "endpoints.groq", "a catalog provider with an SDK passes")

	cfg := endpoint.Config{Name: "own", Provider: "custom", Transport: endpoint.TransportSDK, BaseURL: "http://127.0.0.1:9/v1", Auth: endpoint.AuthNone}
	_, err = endpoint.New(cfg)
	assert.ErrorIs(t, err, endpoint.ErrNoSDK)
	_, err = providers.NewEndpoint(cfg)
	assert.ErrorContains(t, err, `endpoint "own": transport: provider "custom" has no SDK in khive`)
	_, err = providers.NewEndpoint(cfg, endpoint.WithSDK(sdkClosing(nil, new(atomic.Int64))))
	assert.NoError(t, err, "an SDK of the user's own is taken")
}
