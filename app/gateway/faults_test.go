package gateway_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
)

// faultEnv is newEnv with attempt timeouts short enough for hangs.
func faultEnv(t *testing.T) *env {
	return newEnv(t, func(c *khive.Config, g *gateway.Config) {
		for name, ec := range c.Endpoints {
			ec.Timeout = 300 * time.Millisecond
			ec.Retry.MaxRetryAfter = 5 * time.Second
			c.Endpoints[name] = ec
		}
		g.RequestTimeout = 3 * time.Second
	})
}

// Every fault, through an endpoint and through the gateway: the caller
// always gets a result or a clear error within its deadline; retries and
// fallbacks behave as configured.
func TestFaultTable(t *testing.T) {
	const deadline = 4 * time.Second
	type expect struct {
		ok       bool
		attempts int // endpoint attempts when ok, or in the StatusError
		status   int // the StatusError's status when not ok, 0 for a transport error
	}
	for _, tt := range []struct {
		name     string
		setup    func(up *khivetest.Server)
		endpoint expect
		via      string // the gateway's serving endpoint for alias "fast" (up, then other); "" = error
		minWait  time.Duration
	}{
		{"latency with jitter", func(up *khivetest.Server) {
			up.SetLatency(20 * time.Millisecond)
			up.SetJitter(10 * time.Millisecond)
		},
			expect{ok: true, attempts: 1}, "up", 20 * time.Millisecond},
		{"one 500 then fine", func(up *khivetest.Server) { up.Script(khivetest.Fault{Kind: khivetest.Status, Status: 500}) },
			expect{ok: true, attempts: 2}, "up", 0},
		{"502 always", func(up *khivetest.Server) { up.Always(khivetest.Fault{Kind: khivetest.Status, Status: 502}) },
			expect{attempts: 2, status: 502}, "other", 0},
		{"503 always", func(up *khivetest.Server) { up.Always(khivetest.Fault{Kind: khivetest.Status, Status: 503}) },
			expect{attempts: 2, status: 503}, "other", 0},
		{"429 with a short retry-after-ms", func(up *khivetest.Server) {
			up.Script(khivetest.Fault{Kind: khivetest.Status, Status: 429, Headers: map[string]string{
				"retry-after-ms": "150", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "150ms"}})
		}, expect{ok: true, attempts: 2}, "up", 150 * time.Millisecond},
		{"429 with a wait above the cap", func(up *khivetest.Server) {
			up.Always(khivetest.Fault{Kind: khivetest.Status, Status: 429, Headers: map[string]string{"retry-after": "120"}})
		}, expect{attempts: 1, status: 429}, "other", 0},
		{"reset before headers", func(up *khivetest.Server) { up.Script(khivetest.Fault{Kind: khivetest.ResetBefore}) },
			expect{ok: true, attempts: 2}, "up", 0},
		{"reset mid-body", func(up *khivetest.Server) { up.Script(khivetest.Fault{Kind: khivetest.ResetMidBody}) },
			expect{ok: true, attempts: 2}, "up", 0},
		{"hang", func(up *khivetest.Server) { up.Always(khivetest.Fault{Kind: khivetest.Hang}) },
			expect{attempts: 2}, "other", 600 * time.Millisecond},
		{"trickling body within the timeout", func(up *khivetest.Server) {
			up.Always(khivetest.Fault{Kind: khivetest.SlowBody}) // a byte per write, no pause
		}, expect{ok: true, attempts: 1}, "up", 0},
		{"trickling body past the timeout", func(up *khivetest.Server) {
			up.Always(khivetest.Fault{Kind: khivetest.SlowBody, Delay: 5 * time.Millisecond})
		}, expect{attempts: 2}, "other", 600 * time.Millisecond},
		{"malformed JSON", func(up *khivetest.Server) { up.Always(khivetest.Fault{Kind: khivetest.Malformed}) },
			expect{ok: true, attempts: 1}, "other", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := faultEnv(t)
			tt.setup(e.ups["up"])
			ep, ok := e.reg.Get("up")
			require.True(t, ok)

			// Through the endpoint.
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			began := time.Now()
			resp, err := ep.Call(ctx, endpoint.Request{Body: map[string]any{"model": "m", "messages": []any{map[string]any{"role": "user", "content": "hi"}}}})
			took := time.Since(began)
			assert.Less(t, took, deadline, "answered within the deadline")
			assert.GreaterOrEqual(t, took, tt.minWait)
			if tt.endpoint.ok {
				require.NoError(t, err)
				assert.Equal(t, tt.endpoint.attempts, resp.Attempts)
				if tt.name == "malformed JSON" {
					var v map[string]any
					assert.Error(t, resp.Decode(&v), "the body is not JSON: Decode says so")
				}
			} else {
				require.Error(t, err)
				var se *endpoint.StatusError
				if tt.endpoint.status != 0 {
					require.ErrorAs(t, err, &se)
					assert.Equal(t, tt.endpoint.status, se.Status)
					assert.Equal(t, tt.endpoint.attempts, se.Attempts)
				} else {
					assert.NotErrorAs(t, err, &se)
					assert.Contains(t, err.Error(), "attempt 2", "retried, then a transport error naming the attempt")
				}
			}

			// Through the gateway, alias fast = up, then other.
			var raw *http.Response
			began = time.Now()
			out, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model: "fast", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("through the gateway")},
			}, option.WithResponseInto(&raw))
			assert.Less(t, time.Since(began), deadline)
			require.NoError(t, err)
			assert.Equal(t, tt.via, raw.Header.Get("X-Khive-Endpoint"))
			assert.Equal(t, "echo: through the gateway", out.Choices[0].Message.Content)
		})
	}
}

func TestFaultCutStreams(t *testing.T) {
	e := faultEnv(t)
	e.ups["up"].Always(khivetest.Fault{Kind: khivetest.CutStream})
	ep, _ := e.reg.Get("up")
	s, err := ep.Stream(context.Background(), endpoint.Request{Body: map[string]any{
		"model": "m", "stream": true, "messages": []any{map[string]any{"role": "user", "content": "a b c d"}}}})
	require.NoError(t, err)
	n := 0
	for s.Next() {
		n++
	}
	assert.Equal(t, 2, n, "the role chunk and one word, then the cut")
	assert.ErrorContains(t, s.Err(), "unexpected EOF")
	s.Close()

	// Through the gateway the cut comes after the first byte: no fallback,
	// an error for the client instead of a silent end.
	stream := e.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "fast", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a b c d")},
	})
	defer stream.Close()
	for stream.Next() {
	}
	require.Error(t, stream.Err())
	assert.Contains(t, stream.Err().Error(), "the upstream stream was cut")
}

func TestBreakerOpensAndRecoversThroughTheGateway(t *testing.T) {
	e := newEnv(t, func(c *khive.Config, _ *gateway.Config) {
		ec := c.Endpoints["up"]
		ec.Breaker = endpoint.BreakerConfig{ConsecutiveFailures: 2, OpenFor: 200 * time.Millisecond}
		ec.Retry.MaxAttempts = 1
		c.Endpoints["up"] = ec
	})
	up := e.ups["up"]
	up.Always(khivetest.Fault{Kind: khivetest.Status, Status: 500})
	served := func() string {
		status, h, body := e.post("/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"x"}]}`)
		require.Equal(t, http.StatusOK, status, body)
		return h.Get("X-Khive-Endpoint")
	}
	assert.Equal(t, "other", served())
	assert.Equal(t, "other", served())
	ep, _ := e.reg.Get("up")
	assert.Equal(t, endpoint.BreakerOpen, ep.BreakerState())
	before := up.Requests()
	assert.Equal(t, "other", served(), "open: up is skipped without a request")
	assert.Equal(t, before, up.Requests())
	_, body := e.get("/metrics")
	assert.Contains(t, body, `khive_gateway_breaker_state{endpoint="up"} 1`)

	up.Always(khivetest.Fault{}) // healed
	require.Eventually(t, func() bool { return ep.BreakerState() == endpoint.BreakerHalfOpen }, time.Second, 10*time.Millisecond)
	assert.Equal(t, "up", served(), "the half-open trial succeeds")
	assert.Equal(t, endpoint.BreakerClosed, ep.BreakerState())
}
