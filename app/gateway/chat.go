package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/providers"
)

// readJSON decodes the request body into v: 413 over the size limit, 400
// for anything that is not JSON.
func readJSON(r *http.Request, v any) *apiError {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error", code: "request_too_large",
				message: fmt.Sprintf("the request body is over %d bytes", tooBig.Limit)}
		}
		return badRequest("", "could not read the request body")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return badRequest("", "could not parse the JSON body: %v", err)
	}
	return nil
}

// worthFallback reports whether another target may succeed where this one
// failed: retryable statuses after the endpoint's own retries, a 429 whose
// wait exceeded the cap, an open circuit, a full queue, a transport error.
func worthFallback(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var se *endpoint.StatusError
	if errors.As(err, &se) {
		return se.Temporary()
	}
	return !errors.Is(err, endpoint.ErrClosed) && !errors.Is(err, executor.ErrClosed)
}

func attemptsOf(err error) int {
	var se *endpoint.StatusError
	if errors.As(err, &se) {
		return se.Attempts
	}
	return 1
}

// eachRoute tries try on the routes in order until one succeeds or a
// failure is not worth a fallback. try reports committed once it has
// written to the client: from then on there is no fallback.
func (s *Server) eachRoute(ctx context.Context, routes []route, x *exchange, try func(rt route) (committed bool, err error)) *apiError {
	var last error
	for i, rt := range routes {
		x.endpoint = rt.ep.Name()
		start := time.Now()
		committed, err := try(rt)
		x.upstream += time.Since(start)
		if err == nil || committed {
			return nil
		}
		x.attempts += attemptsOf(err)
		last = err
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

// onExecutor runs fn as a task of the shared executor, so the gateway's
// upstream work is bounded by it and drained by it.
func (s *Server) onExecutor(ctx context.Context, fn func(ctx context.Context) *apiError) *apiError {
	var aerr *apiError
	err := s.exec.Run(ctx, func(ctx context.Context) error {
		aerr = fn(ctx)
		return nil
	})
	if err != nil && aerr == nil {
		return upstreamError(err)
	}
	return aerr
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, x *exchange) *apiError {
	var req providers.ChatRequest
	if aerr := readJSON(r, &req); aerr != nil {
		return aerr
	}
	if req.Model == "" {
		return badRequest("model", "you must provide a model parameter")
	}
	if len(req.Messages) == 0 {
		return badRequest("messages", "messages must be a non-empty array")
	}
	x.model = req.Model
	routes, ok := s.router.resolve(req.Model, providers.KindChat)
	if !ok {
		return notFoundModel(req.Model)
	}
	return s.onExecutor(r.Context(), func(ctx context.Context) *apiError {
		return s.eachRoute(ctx, routes, x, func(rt route) (bool, error) {
			req.Model = rt.model
			body, err := json.Marshal(req)
			if err != nil {
				return false, badRequest("", "could not encode the request: %v", err)
			}
			if req.Stream {
				return s.relayStream(ctx, w, rt, body, x)
			}
			resp, err := rt.ep.Call(ctx, endpoint.Request{Body: json.RawMessage(body)})
			if err != nil {
				return false, err
			}
			x.attempts += resp.Attempts
			writeUpstream(w, rt, resp.Status, resp.Body)
			return true, nil
		})
	})
}

func writeUpstream(w http.ResponseWriter, rt route, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Khive-Endpoint", rt.ep.Name())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// relayStream opens the upstream stream and relays it as SSE. It reads the
// first event before writing anything, so a stream that fails at once can
// still fall back.
func (s *Server) relayStream(ctx context.Context, w http.ResponseWriter, rt route, body []byte, x *exchange) (bool, error) {
	st, err := rt.ep.Stream(ctx, endpoint.Request{Body: json.RawMessage(body)})
	if err != nil {
		return false, err
	}
	defer st.Close()
	x.attempts++
	first := st.Next()
	if !first && st.Err() != nil {
		return false, st.Err()
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Khive-Endpoint", rt.ep.Name())
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for ok := first; ok; ok = st.Next() {
		if _, err := fmt.Fprintf(w, "data: %s\n\n", st.Event().Data); err != nil {
			return true, nil // the client left
		}
		_ = rc.Flush()
	}
	if err := st.Err(); err != nil {
		// Past the first byte there is no fallback: tell the client in-band.
		aerr := upstreamError(err)
		if se := (*endpoint.StreamError)(nil); errors.As(err, &se) {
			aerr = &apiError{typ: orDefault(se.Type, "upstream_error"), message: orDefault(se.Message, "the upstream stream failed")}
		} else if aerr.status == http.StatusBadGateway || aerr.status == http.StatusGatewayTimeout {
			aerr.message = "the upstream stream was cut"
		}
		b, _ := json.Marshal(providers.ErrorBody{Error: providers.ErrorDetail{Message: aerr.message, Type: aerr.typ}})
		fmt.Fprintf(w, "data: %s\n\n", b)
		_ = rc.Flush()
		s.log.Warn("stream ended with an error", zap.String("endpoint", rt.ep.Name()), zap.Error(err))
		return true, nil
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
	_ = rc.Flush()
	return true, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
