package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/khive-go/khive/app/gateway"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	collectormetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
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

// emitAndFlush records one span and one counter, then shuts the
// providers down, which must export both.
func emitAndFlush(t *testing.T, tel *Telemetry) {
	t.Helper()
	_, span := tel.TracerProvider.Tracer("test").Start(context.Background(), "chat gpt-test")
	span.End()
	counter, err := tel.MeterProvider.Meter("test").Int64Counter("khive.test")
	require.NoError(t, err)
	counter.Add(context.Background(), 1)
	require.NoError(t, tel.Shutdown(context.Background()))
}

func TestTelemetryOffByDefault(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"} {
		t.Setenv(k, "")
	}
	tel, err := newTelemetry(context.Background(), gateway.TelemetryConfig{})
	require.NoError(t, err)
	assert.Nil(t, tel)
}

func TestTelemetryExportsSpansAndMetrics(t *testing.T) {
	c, srv := newCollector(t)
	tel, err := newTelemetry(context.Background(), gateway.TelemetryConfig{OTLPEndpoint: srv.URL})
	require.NoError(t, err)
	require.NotNil(t, tel)
	emitAndFlush(t, tel)
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.Positive(t, c.paths["POST /v1/traces"], "span batch flushed on Shutdown")
	assert.Positive(t, c.paths["POST /v1/metrics"], "metrics flushed on Shutdown")
	assert.Equal(t, "application/x-protobuf", c.types["/v1/traces"])
}

func TestTelemetryFollowsOTELEnvironment(t *testing.T) {
	c, srv := newCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	tel, err := newTelemetry(context.Background(), gateway.TelemetryConfig{})
	require.NoError(t, err)
	require.NotNil(t, tel, "OTEL_EXPORTER_OTLP_ENDPOINT turns export on")
	emitAndFlush(t, tel)
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.Positive(t, c.paths["POST /v1/traces"])
}

// grpcCollector receives OTLP trace and metric exports over gRPC on loopback.
type grpcCollector struct {
	collectortrace.UnimplementedTraceServiceServer
	spans, metrics atomic.Int64
}

func (g *grpcCollector) Export(_ context.Context, r *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	for _, rs := range r.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			g.spans.Add(int64(len(ss.GetSpans())))
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

type metricsService struct {
	collectormetrics.UnimplementedMetricsServiceServer
	g *grpcCollector
}

func (m metricsService) Export(_ context.Context, r *collectormetrics.ExportMetricsServiceRequest) (*collectormetrics.ExportMetricsServiceResponse, error) {
	m.g.metrics.Add(int64(len(r.GetResourceMetrics())))
	return &collectormetrics.ExportMetricsServiceResponse{}, nil
}

func TestTelemetryExportsOverGRPC(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := &grpcCollector{}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, g)
	collectormetrics.RegisterMetricsServiceServer(srv, metricsService{g: g})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	tel, err := newTelemetry(context.Background(), gateway.TelemetryConfig{OTLPEndpoint: "http://" + lis.Addr().String(), Protocol: "grpc"})
	require.NoError(t, err)
	emitAndFlush(t, tel)
	assert.Equal(t, int64(1), g.spans.Load())
	assert.Positive(t, g.metrics.Load())
}

func TestTelemetryRejectsAnUnknownProtocol(t *testing.T) {
	_, err := newTelemetry(context.Background(), gateway.TelemetryConfig{OTLPEndpoint: "http://127.0.0.1:1", Protocol: "carrier-pigeon"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gateway.telemetry.protocol")
}
