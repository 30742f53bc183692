package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
)

// A hostile upstream through the gateway: answers over the read limits are
// refused in the route's format (in-band for a stream), and a stream error
// event that echoes the upstream's key reaches neither the client nor the
// log with it.
func TestHostileUpstreamThroughTheGateway(t *testing.T) {
	chat := `{"model":"up/m","messages":[{"role":"user","content":"hi"}]}`
	stream := `{"model":"up/m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	messages := `{"model":"up/m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
	for _, tt := range []struct {
		name, route, body string
		fault             khivetest.Fault
		status            int
		want              string
	}{
		{"gzip bomb", "/v1/chat/completions", chat, khivetest.Fault{Kind: khivetest.GzipBomb, Size: 64 << 20}, http.StatusBadGateway,
			`"message":"endpoint \"up\": the upstream's answer is over the read limit of 16777216 bytes (read.max_body_bytes)"`},
		{"endless line", "/v1/chat/completions", stream, khivetest.Fault{Kind: khivetest.EndlessLine, Size: 8 << 20}, http.StatusBadGateway,
			"the upstream's event is over the read limit"},
		{"secret in an error event", "/v1/chat/completions", stream, khivetest.Fault{Kind: khivetest.SecretEvent}, http.StatusOK,
			"upstream proxy rejected key [redacted]"},
		{"secret in an error event, translated", "/v1/messages", messages, khivetest.Fault{Kind: khivetest.SecretEvent}, http.StatusOK,
			"upstream proxy rejected key [redacted]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.ups["up"].Always(tt.fault)
			status, _, body := e.post(tt.route, tt.body)
			assert.Equal(t, tt.status, status, body)
			assert.Contains(t, body, tt.want)
			assert.NotContains(t, body, upstreamKey)
			assert.Less(t, len(body), 64<<10, "nothing of the hostile answer is passed on")
			e.assertNoUpstreamKey()
			if strings.Contains(tt.name, "secret") {
				assert.NotEmpty(t, e.logs.FilterMessage("stream ended with an error").All())
			}
		})
	}
}

// A stream ends honestly: answered without an event stream it is a 502
// before anything is sent; ended without its format's terminal event it
// ends with an error event in the route's format and is logged as cut,
// never completed by the gateway.
func TestStreamsEndHonestly(t *testing.T) {
	chat := func(model string) string {
		return `{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	}
	messages := func(model string) string {
		return `{"model":"` + model + `","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
	}
	for _, tt := range []struct {
		name, upstream, route, body string
		fault                       khivetest.Fault
		status                      int
		want, unwanted              []string
	}{
		{"html to a stream request", "up", "/v1/chat/completions", chat("up/m"), khivetest.Fault{Kind: khivetest.WrongContentType},
			http.StatusBadGateway, []string{"upstream_not_a_stream", `Content-Type \"text/html; charset=utf-8\"`}, []string{"[DONE]"}},
		{"chat without [DONE] or a finish_reason", "up", "/v1/chat/completions", chat("up/m"), khivetest.Fault{Kind: khivetest.NoTerminalEvent},
			http.StatusOK, []string{"partial ", `"error"`, "the upstream stream was cut"}, []string{"[DONE]"}},
		{"messages translated from chat", "up", "/v1/messages", messages("up/m"), khivetest.Fault{Kind: khivetest.NoTerminalEvent},
			http.StatusOK, []string{"event: error", "the upstream stream was cut"}, []string{"message_stop", "end_turn"}},
		{"messages passed through", "anth", "/v1/messages", messages("claude/c"), khivetest.Fault{Kind: khivetest.NoTerminalEvent},
			http.StatusOK, []string{"partial ", "event: error", "the upstream stream was cut"}, []string{"message_stop"}},
		{"chat translated from messages", "anth", "/v1/chat/completions", chat("claude/c"), khivetest.Fault{Kind: khivetest.NoTerminalEvent},
			http.StatusOK, []string{"partial ", "the upstream stream was cut"}, []string{"[DONE]", `"finish_reason":"stop"`}},
		{"responses translated from chat", "up", "/v1/responses", `{"model":"up/m","stream":true,"input":"hi"}`, khivetest.Fault{Kind: khivetest.NoTerminalEvent},
			http.StatusOK, []string{"event: error", "the upstream stream was cut"}, []string{"response.completed"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.ups[tt.upstream].Always(tt.fault)
			status, _, body := e.post(tt.route, tt.body)
			assert.Equal(t, tt.status, status, body)
			for _, w := range tt.want {
				assert.Contains(t, body, w)
			}
			for _, u := range tt.unwanted {
				assert.NotContains(t, body, u)
			}
			if tt.status == http.StatusOK {
				lines := e.logs.FilterMessage("request").All()
				if assert.Len(t, lines, 1) {
					assert.Equal(t, "upstream", lines[0].ContextMap()["cut"])
				}
			}
		})
	}
}

// A body of many top-level keys passes through whole, unknown fields kept,
// with only its model replaced.
func TestWideBodyPassesThroughWhole(t *testing.T) {
	e := newEnv(t)
	var b strings.Builder
	b.WriteString(`{"model":"fast","messages":[{"role":"user","content":"hi"}]`)
	const keys = 50_000
	for i := range keys {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	b.WriteString("}")
	status, _, body := e.post("/v1/chat/completions", b.String())
	require.Equal(t, http.StatusOK, status, body)
	got := e.ups["up"].Last().Body
	assert.Len(t, got, keys+2)
	assert.Equal(t, "gpt-4o-mini", got["model"], "the alias's target model")
	assert.Equal(t, float64(keys-1), got[fmt.Sprintf("k%d", keys-1)])
}

// The access log's attempts count what reached the upstream: each attempt
// of a transport failure, none for a call the open circuit refused.
func TestAccessLogAttemptsCountWhatReachedTheUpstream(t *testing.T) {
	e := newEnv(t, func(c *khive.Config, _ *gateway.Config) {
		up := c.Endpoints["up"]
		up.Breaker = endpoint.BreakerConfig{ConsecutiveFailures: 2, OpenFor: time.Hour}
		c.Endpoints["up"] = up
	})
	e.ups["up"].Always(khivetest.Fault{Kind: khivetest.ResetBefore})
	body := `{"model":"up/m","messages":[{"role":"user","content":"x"}]}`
	status, _, _ := e.post("/v1/chat/completions", body) // two attempts, both reset: the circuit opens
	assert.Equal(t, http.StatusBadGateway, status)
	status, _, _ = e.post("/v1/chat/completions", body)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	var attempts []int64
	for _, l := range e.logs.FilterMessage("request").All() {
		attempts = append(attempts, l.ContextMap()["attempts"].(int64))
	}
	assert.Equal(t, []int64{2, 0}, attempts)
}
