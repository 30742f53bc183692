// Package hooks reaches the plumbing of khive's public packages that only
// khive's own packages need (the fx module, the gateway), so that it stays
// out of their API. Each hook is set by the init of the package it reaches
// into, and takes that package's own type (an *endpoint.Endpoint), which
// this package cannot name without an import cycle.
package hooks

import (
	"context"

	"go.uber.org/zap"
)

var (
	// EndpointLogger gives an *endpoint.Endpoint built without
	// WithLogger the logger l before Start, so that its close failures
	// are logged (the fx module, for the endpoints users add).
	EndpointLogger func(e any, l *zap.Logger)
	// EndpointShare makes an adaptive *endpoint.Endpoint claim part f of
	// what the provider's headers say is left (the gateway: 1/N for N
	// replicas on one key).
	EndpointShare func(e any, f float64)
	// InheritContext is the executor.TaskOption that runs a lease under
	// its submitter's ctx as it is (endpoint's attempts: their call's ctx
	// is cancelled by the endpoint's own tracker).
	InheritContext any
)

// callerCuts marks a context whose owner cancels it, and every context
// derived from it, before any endpoint it calls stops.
type callerCuts struct{}

// WithCallerCuts marks ctx (the gateway's base context: its shutdown cuts
// every request before the endpoints stop) so that an endpoint's calls
// under it run under their caller's ctx as it is: the endpoint's Stop
// still waits for them, and need not cut them itself, which saves a
// context per call.
func WithCallerCuts(ctx context.Context) context.Context {
	return context.WithValue(ctx, callerCuts{}, true)
}

// CallerCuts reports whether ctx derives from a WithCallerCuts context.
func CallerCuts(ctx context.Context) bool { return ctx.Value(callerCuts{}) != nil }
