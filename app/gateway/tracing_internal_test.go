package gateway

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// otel's unset global and noops are recognised as not recording, an SDK
// provider as recording. (The one test that sets the global provider puts
// a noop back when it ends, so the first check holds in any order.)
func TestRecordsTellsProvidersApart(t *testing.T) {
	assert.False(t, records(otel.GetTracerProvider()), "the global, unset")
	assert.False(t, records(noop.NewTracerProvider()))
	n := noop.NewTracerProvider()
	assert.False(t, records(&n))
	sdk := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
	assert.True(t, records(sdk))
}
