package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// collector is a loopback OTLP/HTTP receiver that records what arrives.
type collector struct {
	mu    sync.Mutex
	paths map[string]int // path -> bytes received
	types map[string]string
}

func newCollector(t *testing.T) (*collector, *httptest.Server) {
	c := &collector{paths: map[string]int{}, types: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.paths[r.Method+" "+r.URL.Path] += len(b)
		c.types[r.URL.Path] = r.Header.Get("Content-Type")
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(srv.Close)
	return c, srv
}

func TestTelemetryOffByDefault(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"} {
		t.Setenv(k, "")
	}
	tel, err := NewTelemetry(context.Background(), TelemetryConfig{})
	require.NoError(t, err)
	assert.Nil(t, tel)
}

func TestTelemetryExportsSpansAndMetrics(t *testing.T) {
	c, srv := newCollector(t)
	tel, err := NewTelemetry(context.Background(), TelemetryConfig{OTLPEndpoint: srv.URL})
	require.NoError(t, err)
	require.NotNil(t, tel)

	_, span := tel.TracerProvider.Tracer("test").Start(context.Background(), "chat gpt-test")
	span.End()
	counter, err := tel.MeterProvider.Meter("test").Int64Counter("khive.test")
	require.NoError(t, err)
	counter.Add(context.Background(), 3)

	require.NoError(t, tel.Shutdown(context.Background()))
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.Positive(t, c.paths["POST /v1/traces"], "span batch flushed on Shutdown")
	assert.Positive(t, c.paths["POST /v1/metrics"], "metrics flushed on Shutdown")
	assert.Equal(t, "application/x-protobuf", c.types["/v1/traces"])
}

func TestTelemetryFollowsOTELEnvironment(t *testing.T) {
	c, srv := newCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	tel, err := NewTelemetry(context.Background(), TelemetryConfig{})
	require.NoError(t, err)
	require.NotNil(t, tel, "OTEL_EXPORTER_OTLP_ENDPOINT turns export on")
	_, span := tel.TracerProvider.Tracer("test").Start(context.Background(), "s")
	span.End()
	require.NoError(t, tel.Shutdown(context.Background()))
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.Positive(t, c.paths["POST /v1/traces"])
}
