package otelglobal

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// sliceProvider is a provider of a type that is not comparable.
type sliceProvider struct {
	noop.TracerProvider
	_ []int
}

type named struct {
	noop.TracerProvider
	name string
}

// Get derives again only when the provider changes, and takes providers
// of types that are not comparable without comparing them.
func TestGetDerivesOncePerProvider(t *testing.T) {
	var d Derived[string]
	calls := 0
	derive := func(tp trace.TracerProvider) string {
		calls++
		if n, ok := tp.(*named); ok {
			return n.name
		}
		return "other"
	}
	a, b := &named{name: "a"}, &named{name: "b"}
	assert.Equal(t, "a", d.Get(a, derive))
	assert.Equal(t, "a", d.Get(a, derive))
	assert.Equal(t, 1, calls, "the same provider: derived once")
	assert.Equal(t, "b", d.Get(b, derive))
	assert.Equal(t, "a", d.Get(a, derive))
	assert.Equal(t, 3, calls, "each change derives again")
	assert.Equal(t, "other", d.Get(sliceProvider{}, derive))
	assert.Equal(t, "other", d.Get(sliceProvider{}, derive))
	assert.Equal(t, 5, calls, "not comparable: derived each time, never compared")
	assert.Equal(t, "a", d.Get(a, derive), "the last comparable one is still kept")
	assert.Equal(t, 5, calls)
}
