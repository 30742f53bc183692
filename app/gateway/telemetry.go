package gateway

// TelemetryConfig turns OpenTelemetry export on (it is off by default):
// OTLP to OTLPEndpoint, or, when that is empty, wherever the standard
// OTEL_EXPORTER_OTLP_ENDPOINT (or its _TRACES_ / _METRICS_ forms) says.
// Prometheus /metrics is served either way.
type TelemetryConfig struct {
	OTLPEndpoint string `yaml:"otlp_endpoint"` // e.g. http://127.0.0.1:4318 (http/protobuf) or http://127.0.0.1:4317 (grpc)
	// Protocol is http/protobuf (the default) or grpc; empty follows
	// OTEL_EXPORTER_OTLP_PROTOCOL.
	Protocol    string `yaml:"protocol"`
	ServiceName string `yaml:"service_name"` // default khive-gateway
}
