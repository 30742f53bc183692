package gateway

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
)

// worthFallback reports whether another target may succeed where this one
// failed: retryable statuses after the endpoint's own retries, a 429 whose
// wait exceeded the cap, an open circuit, a full queue, a transport error.
func worthFallback(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var se *endpoint.StatusError
	if errors.As(err, &se) {
		return se.Temporary() || upstreamAuthFailed(se) // another target may hold working credentials
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return false
	}
	// A TranslationError may not hold for a target of the other kind.
	return !errors.Is(err, endpoint.ErrClosed) && !errors.Is(err, executor.ErrClosed)
}

// eachRoute tries try on the routes in order until one succeeds or a
// failure is not worth a fallback. try reports committed once it has
// written to the client: from then on there is no fallback.
func (s *Server) eachRoute(ctx context.Context, routes []route, x *exchange, try func(ctx context.Context, rt route) (committed bool, err error)) *apiError {
	var last error
	for i, rt := range routes {
		x.endpoint = rt.ep.Name()
		start := time.Now()
		committed, err := s.tryTarget(ctx, x, rt, i > 0, try)
		x.upstream += time.Since(start)
		if err == nil || committed {
			return nil
		}
		x.attempts += endpoint.AttemptsOf(err)
		last = err
		var se *endpoint.StatusError
		if errors.As(err, &se) && upstreamAuthFailed(se) {
			s.log.Error("the upstream refused the gateway's credentials", zap.String("endpoint", rt.ep.Name()),
				zap.Int("status", se.Status), zap.String("message", truncate(se.Message)))
		}
		if !worthFallback(ctx, err) {
			break
		}
		if i+1 < len(routes) {
			s.log.Warn("falling back to the next target", zap.String("from", rt.ep.Name()),
				zap.String("to", routes[i+1].ep.Name()), zap.Error(err))
		}
	}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &apiError{status: http.StatusGatewayTimeout, typ: "timeout", message: "the request timed out"}
	}
	return upstreamError(last)
}

// tryTarget runs try for rt in a span of its own (the alias, the target,
// whether it is a fallback) when the request is traced.
func (s *Server) tryTarget(ctx context.Context, x *exchange, rt route, fallback bool, try func(context.Context, route) (bool, error)) (bool, error) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return try(ctx, rt)
	}
	tctx, span := s.tracer.Start(ctx, "target "+rt.ep.Name(), trace.WithAttributes(
		attribute.String("khive.model", truncate(x.model)), attribute.String("khive.target.endpoint", rt.ep.Name()),
		attribute.String("khive.target.model", truncate(rt.model)), attribute.Bool("khive.fallback", fallback)))
	defer span.End()
	committed, err := try(tctx, rt)
	if err != nil {
		span.SetStatus(codes.Error, "the target failed")
	}
	return committed, err
}
