package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/khive-go/khive/app/gateway"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry is the exporting tracer and meter providers; Shutdown flushes
// and closes them.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Shutdown       func(context.Context) error
}

// newTelemetry builds exporting providers when c or the environment asks
// for export (the exporters honour the other OTEL_EXPORTER_OTLP_* variables,
// headers and timeouts included); nil when export is off. It leaves the
// otel globals alone: run installs them.
func newTelemetry(ctx context.Context, c gateway.TelemetryConfig) (*Telemetry, error) {
	if c.OTLPEndpoint == "" && os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" &&
		os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") == "" {
		return nil, nil
	}
	protocol := c.Protocol
	if protocol == "" {
		protocol = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var (
		te  sdktrace.SpanExporter
		me  sdkmetric.Exporter
		err error
	)
	switch protocol {
	case "", "http/protobuf":
		te, me, err = httpExporters(ctx, c.OTLPEndpoint)
	case "grpc":
		te, me, err = grpcExporters(ctx, c.OTLPEndpoint)
	default:
		return nil, fmt.Errorf("gateway.telemetry.protocol: %q is not http/protobuf or grpc", protocol)
	}
	if err != nil {
		return nil, err
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

func httpExporters(ctx context.Context, endpoint string) (sdktrace.SpanExporter, sdkmetric.Exporter, error) {
	var topts []otlptracehttp.Option
	var mopts []otlpmetrichttp.Option
	if endpoint != "" {
		base := strings.TrimSuffix(endpoint, "/")
		topts = append(topts, otlptracehttp.WithEndpointURL(base+"/v1/traces"))
		mopts = append(mopts, otlpmetrichttp.WithEndpointURL(base+"/v1/metrics"))
	}
	te, err := otlptracehttp.New(ctx, topts...)
	if err != nil {
		return nil, nil, fmt.Errorf("gateway.telemetry: %w", err)
	}
	me, err := otlpmetrichttp.New(ctx, mopts...)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("gateway.telemetry: %w", err), te.Shutdown(ctx))
	}
	return te, me, nil
}

func grpcExporters(ctx context.Context, endpoint string) (sdktrace.SpanExporter, sdkmetric.Exporter, error) {
	var topts []otlptracegrpc.Option
	var mopts []otlpmetricgrpc.Option
	if endpoint != "" {
		topts = append(topts, otlptracegrpc.WithEndpointURL(endpoint))
		mopts = append(mopts, otlpmetricgrpc.WithEndpointURL(endpoint))
	}
	te, err := otlptracegrpc.New(ctx, topts...)
	if err != nil {
		return nil, nil, fmt.Errorf("gateway.telemetry: %w", err)
	}
	me, err := otlpmetricgrpc.New(ctx, mopts...)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("gateway.telemetry: %w", err), te.Shutdown(ctx))
	}
	return te, me, nil
}
