package gateway

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
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

// sliceProvider is a provider of a type that is not comparable.
type sliceProvider struct {
	noop.TracerProvider
	_ []int
}

// on follows the global provider (here the test's own, otel's keeps what
// it was first set to for the tracers taken before) as it is set and set
// again, for providers of any type, comparable or not.
func TestTracingOnFollowsTheGlobalProvider(t *testing.T) {
	var global trace.TracerProvider
	tr := tracing{global: func() trace.TracerProvider { return global }}
	sdk := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
	for i, step := range []struct {
		tp   trace.TracerProvider
		want bool
	}{
		{noop.NewTracerProvider(), false},
		{sdk, true},
		{sdk, true},
		{noop.NewTracerProvider(), false},
		{sliceProvider{}, true}, // someone's own provider: recording, as far as anyone can tell
		{sliceProvider{}, true},
		{sdk, true},
		{noop.NewTracerProvider(), false},
	} {
		global = step.tp
		assert.Equal(t, step.want, tr.on(), "step %d: %T", i, step.tp)
		assert.Equal(t, step.want, tr.on(), "step %d again", i)
	}
	assert.True(t, (&tracing{explicit: true}).on())
}
