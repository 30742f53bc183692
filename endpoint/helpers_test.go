package endpoint_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/khive-go/khive/endpoint"
)

// upstream is a loopback server that counts requests and new connections.
type upstream struct {
	*httptest.Server
	requests atomic.Int64
	conns    atomic.Int64
}

func newUpstream(t *testing.T, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.requests.Add(1)
		h(w, r)
	}))
	u.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.conns.Add(1)
		}
	}
	u.Start()
	t.Cleanup(u.Close)
	return u
}

func baseConfig(u *upstream) endpoint.Config {
	return endpoint.Config{
		Name: "test", Provider: "openai", BaseURL: u.URL + "/v1", Path: "chat/completions",
		APIKey: endpoint.NewSecret(testKey),
	}
}

// logged returns a Debug logger and what it records.
func logged() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	return zap.New(core), logs
}

func start(t *testing.T, cfg endpoint.Config, opts ...endpoint.Option) *endpoint.Endpoint {
	t.Helper()
	e, err := endpoint.New(cfg, opts...)
	require.NoError(t, err)
	require.NoError(t, e.Start(context.Background()))
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	return e
}

// assertNoKey checks that the test key appears in no log entry and no error.
func assertNoKey(t *testing.T, logs *observer.ObservedLogs, errs ...error) {
	t.Helper()
	for _, e := range logs.All() {
		assert.NotContains(t, e.Message, testKey)
		for k, v := range e.ContextMap() {
			assert.NotContains(t, fmt.Sprint(v), testKey, "log field %s", k)
		}
	}
	for _, err := range errs {
		if err != nil {
			assert.NotContains(t, err.Error(), testKey)
			assert.NotContains(t, fmt.Sprintf("%+v", err), testKey)
		}
	}
}

func okJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"ok":true}`)
}

func runtimeGosched() { runtime.Gosched() }
