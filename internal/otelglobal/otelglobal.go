// Package otelglobal keeps what khive derives from otel's global tracer
// provider (a tracer, whether it records), read on every call so that a
// provider set later, or set again, is followed, and derived again only
// when the provider changes.
package otelglobal

import (
	"reflect"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
)

// Derived is the value derived from the provider last seen.
type Derived[V any] struct {
	last atomic.Pointer[entry[V]]
}

type entry[V any] struct {
	tp trace.TracerProvider
	v  V
}

// Get is derive(tp), taken from the last call when tp is the provider that
// call was given.
func (d *Derived[V]) Get(tp trace.TracerProvider, derive func(trace.TracerProvider) V) V {
	// Interfaces of different dynamic types compare unequal without
	// comparing their values; a provider of a type that is not comparable
	// is never kept, so it is never compared.
	if e := d.last.Load(); e != nil && e.tp == tp {
		return e.v
	}
	v := derive(tp)
	if reflect.TypeOf(tp).Comparable() {
		d.last.Store(&entry[V]{tp: tp, v: v})
	}
	return v
}
