package endpoint_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
)

func TestCallSendsAuthHeadersDefaultsAndParams(t *testing.T) {
	type seen struct {
		path, method, auth, xkey, custom, ctype string
		body                                    map[string]any
	}
	got := make(chan seen, 1)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		var s seen
		s.path, s.method, s.ctype = r.URL.EscapedPath(), r.Method, r.Header.Get("Content-Type")
		s.auth, s.xkey, s.custom = r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"), r.Header.Get("X-Custom")
		_ = json.NewDecoder(r.Body).Decode(&s.body)
		got <- s
		okJSON(w, r)
	})
	cfg := baseConfig(u)
	cfg.Path = "models/{model}/generate"
	cfg.Headers = map[string]string{"X-Custom": "default", "Authorization": "ignored"}
	cfg.Defaults = map[string]any{"temperature": 0.2, "model": "default-model"}
	log, logs := logged()
	e := start(t, cfg, endpoint.WithLogger(log))

	resp, err := e.Call(context.Background(), endpoint.Request{
		Body:    map[string]any{"model": "mine", "messages": []any{}},
		Headers: http.Header{"X-Custom": {"mine"}, "Authorization": {"Bearer stolen"}},
		Params:  map[string]string{"model": "a b/c"},
	})
	require.NoError(t, err)
	s := <-got
	assert.Equal(t, "/v1/models/a%20b%2Fc/generate", s.path)
	assert.Equal(t, http.MethodPost, s.method)
	assert.Equal(t, "Bearer "+testKey, s.auth, "a request cannot override auth")
	assert.Equal(t, "mine", s.custom, "request headers win over defaults")
	assert.Equal(t, "application/json", s.ctype)
	assert.Equal(t, map[string]any{"model": "mine", "messages": []any{}, "temperature": 0.2}, s.body, "defaults merged, request wins")

	var out struct{ OK bool }
	require.NoError(t, resp.Decode(&out))
	assert.True(t, out.OK)
	assert.Equal(t, 1, resp.Attempts)

	_, err = e.Call(context.Background(), endpoint.Request{Params: map[string]string{}})
	assert.ErrorContains(t, err, `path parameter "model" missing`)
	assertNoKey(t, logs, err)
}

func TestAuthKinds(t *testing.T) {
	got := make(chan http.Header, 1)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone(); okJSON(w, r) })
	for _, tt := range []struct {
		auth, header, want string
	}{
		{endpoint.AuthBearer, "Authorization", "Bearer " + testKey},
		{endpoint.AuthXAPIKey, "X-Api-Key", testKey},
		{endpoint.AuthHeader, "X-Goog-Api-Key", testKey},
		{endpoint.AuthNone, "Authorization", ""},
	} {
		cfg := baseConfig(u)
		cfg.Auth = tt.auth
		if tt.auth == endpoint.AuthHeader {
			cfg.AuthHeaderName = "x-goog-api-key"
		}
		e := start(t, cfg)
		_, err := e.Call(context.Background(), endpoint.Request{Body: map[string]any{}})
		require.NoError(t, err)
		assert.Equal(t, tt.want, (<-got).Get(tt.header), tt.auth)
	}
}

func TestLifecycleErrors(t *testing.T) {
	u := newUpstream(t, okJSON)
	e, err := endpoint.New(baseConfig(u))
	require.NoError(t, err)
	_, err = e.Call(context.Background(), endpoint.Request{})
	assert.ErrorIs(t, err, endpoint.ErrNotStarted)
	require.NoError(t, e.Start(context.Background()))
	require.NoError(t, e.Start(context.Background()))
	require.NoError(t, e.Stop(context.Background()))
	require.NoError(t, e.Stop(context.Background()))
	_, err = e.Call(context.Background(), endpoint.Request{})
	assert.ErrorIs(t, err, endpoint.ErrClosed)
	assert.ErrorContains(t, err, `endpoint "test"`)
	_, err = e.Stream(context.Background(), endpoint.Request{})
	assert.ErrorIs(t, err, endpoint.ErrClosed)
	assert.ErrorIs(t, e.Start(context.Background()), endpoint.ErrClosed)

	never, err := endpoint.New(baseConfig(u))
	require.NoError(t, err)
	assert.NoError(t, never.Stop(context.Background()))
}

func TestConnectionReuse(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		okJSON(w, r)
	})
	cfg := baseConfig(u)
	cfg.Limits = endpoint.Limits{MaxConcurrency: 8, QueueSize: 64, BlockWhenFull: true}
	e := start(t, cfg)
	body := map[string]any{"model": "m", "messages": []any{map[string]any{"role": "user", "content": "hi"}}}

	for range 1000 {
		_, err := e.Call(context.Background(), endpoint.Request{Body: body})
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), u.conns.Load(), "sequential calls share one connection")

	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for range 1000 {
		wg.Go(func() {
			_, err := e.Call(context.Background(), endpoint.Request{Body: body})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.LessOrEqual(t, u.conns.Load(), int64(8), "concurrent calls open at most MaxConcurrency connections")
	assert.Equal(t, int64(2000), u.requests.Load())
}

func TestQueueFullAndCostErrors(t *testing.T) {
	release := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { <-release; okJSON(w, r) })
	cfg := baseConfig(u)
	cfg.Limits = endpoint.Limits{MaxConcurrency: 1, TokensPerMinute: 100}
	e := start(t, cfg)
	_, err := e.Call(context.Background(), endpoint.Request{Body: map[string]any{"max_tokens": 5000}})
	assert.ErrorIs(t, err, executor.ErrCostTooHigh, "estimated cost above the token bucket")
	assert.ErrorContains(t, err, `endpoint "test"`)

	done := make(chan error, 1)
	go func() {
		_, err := e.Call(context.Background(), endpoint.Request{Body: map[string]any{}, Cost: 1})
		done <- err
	}()
	for e.Stats().Running == 0 {
		// wait for the first call to hold the only slot
		runtimeGosched()
	}
	_, err = e.Call(context.Background(), endpoint.Request{Body: map[string]any{}, Cost: 1})
	assert.ErrorIs(t, err, executor.ErrQueueFull)
	close(release)
	require.NoError(t, <-done)
}

func TestStatusErrorParsesProviderBodies(t *testing.T) {
	for _, tt := range []struct {
		name, body, typ, msg, code string
	}{
		{"openai", `{"error":{"message":"bad model","type":"invalid_request_error","param":"model","code":"model_not_found"}}`,
			"invalid_request_error", "bad model", "model_not_found"},
		{"anthropic", `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}}`,
			"invalid_request_error", "max_tokens: required", ""},
		{"bare", `{"error":"nope"}`, "", "nope", ""},
		{"echoed key", `{"error":{"message":"Incorrect API key provided: ` + testKey + `"}}`, "", "Incorrect API key provided: [redacted]", ""},
		{"not json", `<html>oops</html>`, "", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, tt.body)
			})
			log, logs := logged()
			e := start(t, baseConfig(u), endpoint.WithLogger(log))
			_, err := e.Call(context.Background(), endpoint.Request{Body: map[string]any{}})
			var se *endpoint.StatusError
			require.True(t, errors.As(err, &se))
			assert.Equal(t, http.StatusBadRequest, se.Status)
			assert.Equal(t, tt.typ, se.Type)
			assert.Equal(t, tt.msg, se.Message)
			assert.Equal(t, tt.code, se.Code)
			assert.Equal(t, 1, se.Attempts, "400 is not retried")
			assertNoKey(t, logs, err)
			assert.NotContains(t, string(se.Body), testKey)
		})
	}
}

func TestStatusErrorBodyTruncated(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write(make([]byte, 10_000))
	})
	e := start(t, baseConfig(u))
	_, err := e.Call(context.Background(), endpoint.Request{})
	var se *endpoint.StatusError
	require.ErrorAs(t, err, &se)
	assert.Len(t, se.Body, 4096)
}

// An API's redirect is reported, not followed: following it would send
// the request's body and key to wherever the Location says.
func TestCallReportsARedirectWithoutFollowingIt(t *testing.T) {
	other := newUpstream(t, okJSON)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/v1/moved?token=secret", http.StatusTemporaryRedirect)
	})
	e := start(t, baseConfig(u))
	_, err := e.Call(context.Background(), endpoint.Request{Body: map[string]any{"model": "m"}})
	var se *endpoint.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusTemporaryRedirect, se.Status)
	assert.Equal(t, 1, se.Attempts, "not retried")
	assert.Contains(t, err.Error(), "redirected to "+other.URL+"/v1/moved (not followed", "the error says where it pointed, without the query")
	assert.NotContains(t, err.Error(), "secret")
	assert.Zero(t, other.requests.Load(), "the redirect's target was not called")
	assert.EqualValues(t, 1, u.requests.Load())
}

// A body of no bytes goes as Content-Length: 0, not chunked, as
// net/http's own requests send it.
func TestCallSendsAnEmptyBodyWithItsLength(t *testing.T) {
	type seen struct {
		length int64
		te     []string
	}
	got := make(chan seen, 1)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.ContentLength, r.TransferEncoding}
		okJSON(w, r)
	})
	e := start(t, baseConfig(u))
	_, err := e.Call(context.Background(), endpoint.Request{Body: []byte{}})
	require.NoError(t, err)
	s := <-got
	assert.Zero(t, s.length)
	assert.Empty(t, s.te)
}

// rewriting is a user's round tripper that changes the URL of the request
// it is given, as recording and signing transports do.
type rewriting struct{ n atomic.Int64 }

func (rw *rewriting) RoundTrip(r *http.Request) (*http.Response, error) {
	q := r.URL.Query()
	q.Add("n", strconv.FormatInt(rw.n.Add(1), 10)) // on a shared URL these would pile up
	r.URL.RawQuery = q.Encode()
	return http.DefaultTransport.RoundTrip(r)
}

// A round tripper that changes a request's URL changes only that request's:
// the endpoint's URL, parsed once, is not shared with it.
func TestARoundTripperThatChangesTheURLChangesOnlyItsRequest(t *testing.T) {
	queries := make(chan string, 3)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		queries <- r.URL.RawQuery
		okJSON(w, r)
	})
	e := start(t, baseConfig(u), endpoint.WithRoundTripper(&rewriting{}))
	for range 3 {
		_, err := e.Call(context.Background(), endpoint.Request{Body: map[string]any{"model": "m"}})
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"n=1", "n=2", "n=3"}, []string{<-queries, <-queries, <-queries})
}
