package fxmodule

import (
	"context"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
)

// Resource is a long-lived component: New validates and opens nothing,
// Start opens, Stop drains, cancels and closes. Both honour ctx's deadline,
// are idempotent and safe to call concurrently with use. The module's
// components satisfy it without importing it.
type Resource interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

var (
	_ Resource = (*endpoint.Endpoint)(nil)
	_ Resource = (*executor.Pool)(nil)
)
