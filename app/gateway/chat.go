package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/openai"
	"github.com/khive-go/khive/providers/translate"
)

// readBody reads the request body: 413 over the size limit.
func readBody(r *http.Request) ([]byte, *apiError) {
	b, err := readAll(r)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return nil, tooLarge(tooBig.Limit)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, &apiError{status: http.StatusRequestTimeout, typ: "invalid_request_error", code: "request_timeout",
				message: "the request body did not arrive within the gateway's read_timeout",
				header:  http.Header{"Connection": {"close"}}}
		}
		return nil, badRequest("", "could not read the request body")
	}
	return b, nil
}

// readAll reads the body into a buffer of its Content-Length when it has
// one (MaxBytesReader has bounded it): no growth, no garbage of the sizes
// it passed through.
func readAll(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= 1<<30 {
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		// Read on to the end: the body's io.EOF is what ends the read
		// deadline (see deadlineBody).
		if _, err := r.Body.Read(make([]byte, 1)); err != nil && err != io.EOF {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(r.Body)
}

func tooLarge(limit int64) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error", code: "request_too_large",
		message: fmt.Sprintf("the request body is over %d bytes", limit)}
}

// readJSON decodes the request body into v: 413 over the size limit, 400
// for anything that is not JSON.
func readJSON(r *http.Request, v any) *apiError {
	b, aerr := readBody(r)
	if aerr != nil {
		return aerr
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
		return se.Temporary() || upstreamAuthFailed(se) // another target may hold working credentials
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return false
	}
	// A TranslationError may not hold for a target of the other kind.
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

// chatFields is what the gateway reads of a chat request to route it; the
// rest of the body passes through untouched.
type chatFields struct {
	raw          []byte
	fields       map[string]json.RawMessage
	model        string
	stream       bool
	includeUsage bool
	hasMessages  bool
}

// readChat reads a chat request with one pass over the body: its top-level
// fields stay raw, so a pass-through costs one decode and one encode.
func readChat(r *http.Request) (*chatFields, *apiError) {
	raw, aerr := readBody(r)
	if aerr != nil {
		return nil, aerr
	}
	c := &chatFields{raw: raw}
	if err := json.Unmarshal(raw, &c.fields); err != nil {
		return nil, badRequest("", "could not parse the JSON body: %v", err)
	}
	if m, ok := c.fields["model"]; ok && json.Unmarshal(m, &c.model) != nil {
		return nil, badRequest("model", "model must be a string")
	}
	if m, ok := c.fields["messages"]; ok {
		var msgs []json.RawMessage
		if json.Unmarshal(m, &msgs) != nil {
			return nil, badRequest("messages", "messages must be an array")
		}
		c.hasMessages = len(msgs) > 0
	}
	if v, ok := c.fields["stream"]; ok {
		_ = json.Unmarshal(v, &c.stream)
	}
	if v, ok := c.fields["stream_options"]; ok {
		var so openai.StreamOptions
		_ = json.Unmarshal(v, &so)
		c.includeUsage = so.IncludeUsage
	}
	return c, nil
}

// withModel is the body with the upstream model in place of the client's.
func (c *chatFields) withModel(model string) ([]byte, error) {
	m, _ := json.Marshal(model)
	c.fields["model"] = m
	return json.Marshal(c.fields)
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, x *exchange) *apiError {
	c, aerr := readChat(r)
	if aerr != nil {
		return aerr
	}
	if c.model == "" {
		return badRequest("model", "you must provide a model parameter")
	}
	if !c.hasMessages {
		return badRequest("messages", "messages must be a non-empty array")
	}
	x.model = c.model
	routes, aerr := s.router.resolve(c.model, providers.KindChat, providers.KindMessages)
	if aerr != nil {
		return aerr
	}
	ctx := r.Context()
	return s.eachRoute(ctx, routes, x, func(rt route) (bool, error) {
		if rt.kind == providers.KindMessages {
			// The fields read for routing are decoded into the typed request
			// where they lie: the body is not read a second time.
			req, err := openai.ChatRequestFromFields(c.fields)
			if err != nil {
				return false, badRequest("", "could not parse the JSON body: %v", err)
			}
			req.Model = rt.model
			return s.chatViaAnthropic(ctx, w, rt, req, c.includeUsage, x)
		}
		body, err := c.withModel(rt.model)
		if err != nil {
			return false, badRequest("", "could not encode the request: %v", err)
		}
		ereq := endpoint.Request{Body: json.RawMessage(body)}
		if c.stream {
			return s.relay(ctx, w, rt, ereq, x, chatPassThrough{})
		}
		return s.callAndWrite(ctx, w, rt, ereq, x, nil)
	})
}

// chatViaAnthropic serves a chat request from an Anthropic endpoint.
func (s *Server) chatViaAnthropic(ctx context.Context, w http.ResponseWriter, rt route, req openai.ChatRequest, includeUsage bool, x *exchange) (bool, error) {
	mreq, err := translate.ChatToMessages(req, s.cfg.AnthropicMaxTokens)
	if err != nil {
		return false, err
	}
	body, err := json.Marshal(mreq)
	if err != nil {
		return false, err
	}
	ereq := endpoint.Request{Body: json.RawMessage(body)}
	if req.Stream {
		tr := chatFromAnthropic{&translate.ChunksFromAnthropic{IncludeUsage: includeUsage, Created: time.Now().Unix()}}
		return s.relay(ctx, w, rt, ereq, x, tr)
	}
	return s.callAndWrite(ctx, w, rt, ereq, x, func(b []byte) ([]byte, error) {
		var resp anthropic.MessagesResponse
		if err := json.Unmarshal(b, &resp); err != nil {
			return nil, err
		}
		return json.Marshal(translate.MessagesToChat(resp, time.Now().Unix()))
	})
}

// callAndWrite calls the endpoint and writes its answer, through convert
// when the formats differ.
func (s *Server) callAndWrite(ctx context.Context, w http.ResponseWriter, rt route, req endpoint.Request, x *exchange, convert func([]byte) ([]byte, error)) (bool, error) {
	resp, err := rt.ep.Call(ctx, req)
	if err != nil {
		return false, err
	}
	x.attempts += resp.Attempts
	body := resp.Body
	if convert != nil {
		body, err = convert(resp.Body)
	} else if !json.Valid(body) {
		err = errMalformed
	}
	if err != nil {
		s.log.Warn("unreadable upstream answer", zap.String("endpoint", rt.ep.Name()), zap.Error(err))
		return false, errMalformed // another target may answer properly
	}
	writeUpstream(w, rt, resp.Status, body)
	return true, nil
}

// errMalformed is an upstream 2xx whose body is not what its format says.
var errMalformed = errors.New("the upstream's answer could not be read")

func writeUpstream(w http.ResponseWriter, rt route, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Khive-Endpoint", rt.ep.Name())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
