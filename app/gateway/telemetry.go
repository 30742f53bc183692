package gateway

import (
	"context"
	"errors"
	"os"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// TelemetryConfig turns OpenTelemetry export on (it is off by default):
// OTLP over HTTP/protobuf to OTLPEndpoint, or, when that is empty, wherever
// the standard OTEL_EXPORTER_OTLP_ENDPOINT (or its _TRACES_ / _METRICS_
// forms) says. Prometheus /metrics is served either way.
type TelemetryConfig struct {
	OTLPEndpoint string `yaml:"otlp_endpoint"` // e.g. http://127.0.0.1:4318
	ServiceName  string `yaml:"service_name"`  // default khive-gateway
}

// Telemetry is the exporting tracer and meter providers; Shutdown flushes
// and closes them.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Shutdown       func(context.Context) error
}

// NewTelemetry builds exporting providers when c or the environment asks
// for export (the exporters honour the other OTEL_EXPORTER_OTLP_* variables,
// headers and timeouts included); nil when export is off. It leaves the otel globals alone:
// the caller decides whether to install them (app/main.go does).
func NewTelemetry(ctx context.Context, c TelemetryConfig) (*Telemetry, error) {
	getenv := os.Getenv // the exporters read the same variables
	if c.OTLPEndpoint == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" &&
		getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") == "" {
		return nil, nil
	}
	var topts []otlptracehttp.Option
	var mopts []otlpmetrichttp.Option
	if c.OTLPEndpoint != "" {
		topts = append(topts, otlptracehttp.WithEndpointURL(c.OTLPEndpoint+"/v1/traces"))
		mopts = append(mopts, otlpmetrichttp.WithEndpointURL(c.OTLPEndpoint+"/v1/metrics"))
	}
	te, err := otlptracehttp.New(ctx, topts...)
	if err != nil {
		return nil, err
	}
	me, err := otlpmetrichttp.New(ctx, mopts...)
	if err != nil {
		return nil, errors.Join(err, te.Shutdown(ctx))
	}
	name := c.ServiceName
	if name == "" {
		name = "khive-gateway"
	}
	res := resource.NewSchemaless(semconv.ServiceName(name))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(te), sdktrace.WithResource(res))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me)), sdkmetric.WithResource(res))
	return &Telemetry{TracerProvider: tp, MeterProvider: mp, Shutdown: func(ctx context.Context) error {
		return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx))
	}}, nil
}
