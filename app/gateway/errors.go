package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/khive-go/khive/app/gateway/admission"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/providers/translate"
)

// apiError is an error to answer in OpenAI's format.
type apiError struct {
	status  int
	typ     string
	code    string
	param   string
	message string
	header  http.Header // e.g. retry-after
	// upstream is the provider's error, kept for routes that can pass its
	// body through unchanged.
	upstream *endpoint.StatusError
}

func (e *apiError) Error() string { return e.message }

func badRequest(param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: param, message: fmt.Sprintf(format, args...)}
}

func notFoundModel(model string) *apiError {
	return &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "model_not_found", param: "model",
		message: fmt.Sprintf("The model %q does not exist or is not routable by this gateway", truncate(model))}
}

// upstreamError maps an endpoint error to the answer the client gets. The
// provider's message is kept; nothing of the upstream's key or URL is.
func upstreamError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var se *endpoint.StatusError
	var coe *endpoint.CircuitOpenError
	var te *translate.Error
	var oe *executor.OverloadError
	var rle *endpoint.ReadLimitError
	var nse *endpoint.NotAStreamError
	switch {
	case errors.As(err, &te):
		return badRequest(te.Field, "%s", te.Error())
	case errors.As(err, &se) && upstreamAuthFailed(se):
		// The upstream refused the gateway's own key: the client's key is
		// fine, so this is no 401 of theirs.
		return &apiError{status: http.StatusBadGateway, typ: "upstream_error", code: "upstream_auth_failed",
			message: fmt.Sprintf("the upstream refused the gateway's credentials for endpoint %q (status %d)", se.Endpoint, se.Status)}
	case errors.As(err, &se):
		e := &apiError{status: se.Status, typ: se.Type, code: se.Code, message: se.Message, upstream: se}
		if se.Overloaded && se.Status != http.StatusServiceUnavailable {
			// A provider's own "overloaded" status (its dialect says which:
			// Anthropic's 529) has no place in HTTP: 503.
			e.status, e.typ = http.StatusServiceUnavailable, "overloaded_error"
		}
		if e.typ == "" {
			e.typ = "upstream_error"
		}
		if e.message == "" {
			e.message = fmt.Sprintf("upstream answered %d", se.Status)
		}
		if se.RetryAfter > 0 {
			e.header = retryAfter(se.RetryAfter)
		}
		return e
	case errors.As(err, &coe):
		return &apiError{status: http.StatusServiceUnavailable, typ: "server_error", code: "circuit_open",
			message: fmt.Sprintf("endpoint %q: the upstream is failing (circuit open for another %v); try again later",
				coe.Endpoint, coe.Remaining.Round(time.Second)),
			header: http.Header{"Retry-After": {strconv.Itoa(int(coe.Remaining.Seconds()) + 1)}}}
	case errors.As(err, &oe):
		// Shed: admission would have waited past max_wait. Told at once,
		// with when capacity is expected.
		return &apiError{status: http.StatusTooManyRequests, typ: "rate_limit_error", code: "overloaded",
			message: fmt.Sprintf("the gateway is at this model's rate limit (%s); retry after %v",
				oe.Reason, oe.RetryAfter.Round(time.Millisecond)),
			header: retryAfter(oe.RetryAfter)}
	case errors.Is(err, executor.ErrQueueFull):
		return &apiError{status: http.StatusTooManyRequests, typ: "rate_limit_error", code: "queue_full",
			message: "the gateway's queue for this model is full", header: retryAfter(time.Second)}
	case errors.As(err, &rle):
		return &apiError{status: http.StatusBadGateway, typ: "upstream_error", code: "upstream_too_large", message: rle.Error()}
	case errors.As(err, &nse):
		return &apiError{status: http.StatusBadGateway, typ: "upstream_error", code: "upstream_not_a_stream", message: nse.Error()}
	case errors.Is(err, errMalformed):
		return &apiError{status: http.StatusBadGateway, typ: "upstream_error", message: errMalformed.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusGatewayTimeout, typ: "timeout", message: "the upstream did not answer in time"}
	case errors.Is(err, endpoint.ErrClosed), errors.Is(err, executor.ErrClosed):
		return drainingError()
	}
	return unreachable(err)
}

// unreachable is the answer to a call that got no answer from the
// upstream: the endpoint, the upstream's address when the error names it
// (host and port, never a path or credentials), and the reason.
func unreachable(err error) *apiError {
	var te *endpoint.TransportError
	if !errors.As(err, &te) {
		return &apiError{status: http.StatusBadGateway, typ: "upstream_error", message: "the upstream could not be reached"}
	}
	at := ""
	if a := te.Addr(); a != "" {
		at = " at " + a
	}
	return &apiError{status: http.StatusBadGateway, typ: "upstream_error",
		message: fmt.Sprintf("endpoint %q: the upstream%s could not be reached: %s", te.Endpoint, at, te.Reason())}
}

// retryAfter is the wait hint in both forms clients read: Retry-After in
// whole seconds (rounded up) and retry-after-ms, which the official SDKs
// prefer.
func retryAfter(d time.Duration) http.Header {
	return http.Header{
		"Retry-After":    {strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)},
		"Retry-After-Ms": {strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)},
	}
}

// upstreamAuthFailed is an upstream 401 or 403: the gateway's key for that
// endpoint is wrong or lacks access.
func upstreamAuthFailed(se *endpoint.StatusError) bool {
	return se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden
}

func drainingError() *apiError {
	return &apiError{status: http.StatusServiceUnavailable, typ: "server_error", code: "draining", message: "the gateway is shutting down"}
}

// admissionError maps a key admission's refusal to its answer, the one
// place admission's decisions become HTTP.
func admissionError(err error) *apiError {
	var le *admission.LimitError
	var be *admission.BudgetError
	switch {
	case errors.As(err, &be):
		// The SDKs retry a 429 unless told not to: a spent budget does
		// not come back by retrying.
		h := http.Header{"X-Should-Retry": {"false"}}
		if be.RetryAfter > 0 {
			for k, v := range retryAfter(be.RetryAfter) {
				h[k] = v
			}
		}
		return &apiError{status: http.StatusTooManyRequests, typ: "insufficient_quota", code: "insufficient_quota",
			message: be.Error(), header: h}
	case errors.As(err, &le) && le.Concurrency():
		return &apiError{status: http.StatusTooManyRequests, typ: "rate_limit_error", code: "key_concurrency",
			message: le.Error(), header: retryAfter(le.RetryAfter)}
	case errors.As(err, &le):
		return &apiError{status: http.StatusTooManyRequests, typ: "rate_limit_error", code: "key_rate_limit",
			message: le.Error(), header: retryAfter(le.RetryAfter)}
	case errors.Is(err, admission.ErrStoreUnavailable):
		return &apiError{status: http.StatusServiceUnavailable, typ: "server_error", code: "store_unavailable",
			message: err.Error(), header: retryAfter(time.Second)}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: statusClientClosed, typ: "invalid_request_error", message: "the client went away"}
	}
	return &apiError{status: http.StatusInternalServerError, typ: "server_error", message: "key admission failed"}
}

func modelNotAllowed(k *admission.Key, model string) *apiError {
	return &apiError{status: http.StatusForbidden, typ: "permission_error", code: "model_not_allowed", param: "model",
		message: fmt.Sprintf("key %s may not use model %q", k.Name(), truncate(model))}
}
