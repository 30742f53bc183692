package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRunRefusesBadInput(t *testing.T) {
	var stderr bytes.Buffer
	assert.Equal(t, 2, run([]string{"-no-such-flag"}, &stderr), "bad flags")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	assert.NoError(t, os.WriteFile(bad, []byte("endpoints:\n  x: {provider: openai, endpoint: chat, api_key: k, timeout: -1s}\n"), 0o600))
	assert.Equal(t, 2, run([]string{"-config", bad}, &stderr), "an invalid config file")

	unknown := filepath.Join(t.TempDir(), "unknown.yaml")
	assert.NoError(t, os.WriteFile(unknown, []byte("gateway:\n  lisen: 127.0.0.1:1\n"), 0o600))
	assert.Equal(t, 2, run([]string{"-config", unknown}, &stderr), "an unknown field")

	assert.Equal(t, 2, run([]string{"-config", filepath.Join(t.TempDir(), "missing.yaml")}, &stderr), "a missing file")

	keyless := filepath.Join(t.TempDir(), "keyless.yaml")
	assert.NoError(t, os.WriteFile(keyless, []byte("gateway:\n  listen: 0.0.0.0:0\n"), 0o600))
	assert.Equal(t, 2, run([]string{"-config", keyless}, &stderr), "no client keys on a public address")
}

func TestConfigFaultsReportedInOneRound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faults.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
executor:
  max_concurrency: -1
endpoints:
  a:
    provider: openai
    endpoint: chat
    api_key: k
    timeout: soon
    retry: {max_attempts: -2}
  b:
    provider: openai
    endpoint: chat
    api_key: k
    base_url: ftp://example.com
gateway:
  lisen: 127.0.0.1:1
  max_body_bytes: -1
  models:
    fast: [{endpoint: nope, model: m}]
`), 0o600))
	var stderr bytes.Buffer
	assert.Equal(t, 2, run([]string{"-config", path}, &stderr))
	out := stderr.String()
	for _, want := range []string{
		"gateway.lisen: unknown field",
		`endpoints.a.timeout: cannot read "soon" as a duration`,
		"executor.max_concurrency: must be >= 0",
		"endpoints.a.retry.max_attempts: must be >= 0",
		"endpoints.b.base_url: scheme must be http or https",
		"gateway.max_body_bytes: must be >= 0",
		`gateway.models.fast[0].endpoint: unknown endpoint "nope"`,
	} {
		assert.Contains(t, out, want)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Len(t, lines, 8, "a heading and one line a problem:\n%s", out)
	for _, unwanted := range []string{"goroutine", ".go:", "fxmodule.", "time.Duration", `"level"`, `\n`} {
		assert.NotContains(t, out, unwanted, "for humans: no stack, no Go type names, no JSON")
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Sync() error { return nil }

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAccessLogIsNeverSampled(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	ec := khive.EndpointConfig{Endpoint: "chat"}
	ec.Provider, ec.BaseURL, ec.APIKey = "openai", up.BaseURL(), endpoint.NewSecret("k")
	sink := &syncBuffer{}
	// Buffered as run buffers it, flushed only at the end.
	out := &zapcore.BufferedWriteSyncer{WS: sink, Size: 256 << 10, FlushInterval: time.Hour}
	var srv *gateway.Server
	app := fxtest.New(t, fx.Supply(khive.Config{Endpoints: map[string]khive.EndpointConfig{"up": ec}},
		gateway.Config{Listen: "127.0.0.1:0"}, newLogger(out)),
		fx.NopLogger, khive.Module, gateway.Module, fx.Populate(&srv))
	app.RequireStart()
	defer app.RequireStop()

	const n = 2000
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 4 {
		wg.Go(func() {
			for range n / 4 {
				resp, err := http.Post("http://"+srv.Addr()+"/v1/chat/completions", "application/json",
					strings.NewReader(`{"model":"up/m","messages":[{"role":"user","content":"x"}]}`))
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, failed.Load())
	require.NoError(t, out.Stop())
	assert.Equal(t, n, strings.Count(sink.String(), `"msg":"request"`), "one access-log line per request, however fast they come, none lost in the buffer")
	for _, line := range strings.Split(sink.String(), "\n") {
		if strings.Contains(line, `"msg":"request"`) {
			assert.NotContains(t, line, `"caller"`, "no caller captured per access-log line")
		}
	}
}

// The log is buffered, but a warning or an error is written at once,
// with what was buffered before it.
func TestWarningsAreNotLeftInTheBuffer(t *testing.T) {
	sink := &syncBuffer{}
	out := &zapcore.BufferedWriteSyncer{WS: sink, Size: 256 << 10, FlushInterval: time.Hour}
	defer out.Stop()
	log := newLogger(out).With(zap.String("component", "test"))
	log.Info("routine")
	assert.Empty(t, sink.String(), "an Info line waits in the buffer")
	log.Warn("trouble")
	assert.Contains(t, sink.String(), `"msg":"routine"`)
	assert.Contains(t, sink.String(), `"msg":"trouble"`)
	assert.Contains(t, sink.String(), `"caller"`, "other lines keep their caller")
	assert.Contains(t, sink.String(), `"component":"test"`)
}

// SIGHUP neither kills the gateway nor goes unnoticed.
func TestHangupIsIgnoredWithALogLine(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	stop := ignoreHangups(zap.New(core))
	defer stop()
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP)) // without the handler the test binary would die here
	require.Eventually(t, func() bool { return logs.FilterMessageSnippet("SIGHUP ignored").Len() == 1 }, 5*time.Second, time.Millisecond)
}
