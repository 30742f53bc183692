package gateway_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/khivetest"
)

func TestShutdownWithStreamsInFlight(t *testing.T) {
	e := newEnv(t, func(_ *khive.Config, g *gateway.Config) {
		g.ShutdownTimeout = time.Second
		g.DrainDelay = 200 * time.Millisecond
	})
	// A short stream that ends inside the timeout, and a long one that cannot.
	e.ups["up"].Always(khivetest.Fault{Kind: khivetest.SlowBody, Delay: 50 * time.Millisecond})
	e.ups["other"].Always(khivetest.Fault{Kind: khivetest.SlowBody, Delay: 500 * time.Millisecond})
	open := func(model, text string) *openaiStream {
		s := e.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
			Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
		})
		require.True(t, s.Next(), "the stream is flowing: %v", s.Err())
		return s
	}
	short := open("up/m", "three short words")
	long := open("other/m", strings.Repeat("word ", 30))

	stopped := make(chan error, 1)
	began := time.Now()
	go func() { stopped <- e.app.Stop(context.Background()) }()

	// While draining: readyz says 503 and new API requests are refused.
	require.Eventually(t, func() bool { s, _ := e.get("/readyz"); return s == http.StatusServiceUnavailable }, time.Second, 5*time.Millisecond)
	status, _, body := e.post("/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"x"}]}`)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Contains(t, body, `"code":"draining"`)

	var text string
	for short.Next() {
		for _, c := range short.Current().Choices {
			text += c.Delta.Content
		}
	}
	assert.NoError(t, short.Err(), "a stream that ends within the timeout completes")
	assert.Equal(t, "echo: three short words", text)

	for long.Next() {
	}
	require.Error(t, long.Err(), "a stream longer than the timeout is cut, and the client sees an error")
	assert.Contains(t, long.Err().Error(), "shutting down", "told in-band, in OpenAI's format, before the connection closes")

	select {
	case err := <-stopped:
		assert.NoError(t, err, "cutting streams at the deadline is not a failure")
	case <-time.After(5 * time.Second):
		t.Fatal("Stop hung")
	}
	assert.Less(t, time.Since(began), 200*time.Millisecond+time.Second+time.Second, "drain delay + timeout + a margin")
	short.Close()
	long.Close()
	cuts := 0
	for _, en := range e.logs.FilterMessage("request").All() {
		if en.ContextMap()["cut"] == "shutdown" {
			cuts++
			assert.Equal(t, "other", en.ContextMap()["endpoint"])
		}
	}
	assert.Equal(t, 1, cuts, "the access log records the cut")
}

func TestShutdownCutsAnthropicStreamsWithAnErrorEvent(t *testing.T) {
	e := newEnv(t, func(_ *khive.Config, g *gateway.Config) { g.ShutdownTimeout = 300 * time.Millisecond })
	e.ups["anth"].Always(khivetest.Fault{Kind: khivetest.SlowBody, Delay: 500 * time.Millisecond})
	req, err := http.NewRequest(http.MethodPost, e.url("/v1/messages"), strings.NewReader(
		`{"model":"claude/c","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"`+strings.Repeat("word ", 30)+`"}]}`))
	require.NoError(t, err)
	req.Header.Set("x-api-key", clientKey)
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	go func() { _ = e.app.Stop(context.Background()) }()
	b, _ := io.ReadAll(resp.Body)
	stream := string(b)
	assert.Contains(t, stream, "event: error\ndata: {\"type\":\"error\"", "Anthropic's in-band error event")
	assert.Contains(t, stream, "shutting down")
}

// Non-stream calls still in flight when the shutdown timeout ends are
// answered 503 draining in their route's format, not a 502 blamed on the
// upstream.
func TestShutdownAnswersCallsInFlightDraining(t *testing.T) {
	e := newEnv(t, func(_ *khive.Config, g *gateway.Config) { g.ShutdownTimeout = 300 * time.Millisecond })
	e.ups["up"].Always(khivetest.Fault{Kind: khivetest.Hang})
	type answer struct {
		status int
		body   string
	}
	answers := make(chan answer, 20)
	for i := range 20 {
		go func() {
			route, body := "/v1/chat/completions", `{"model":"up/m","messages":[{"role":"user","content":"x"}]}`
			if i%2 == 1 {
				route, body = "/v1/messages", `{"model":"up/m","max_tokens":8,"messages":[{"role":"user","content":"x"}]}`
			}
			status, _, b := e.post(route, body)
			answers <- answer{status, b}
		}()
	}
	require.Eventually(t, func() bool { return e.ups["up"].InFlight() == 20 }, 5*time.Second, time.Millisecond)
	require.NoError(t, e.app.Stop(context.Background()))
	for range 20 {
		a := <-answers
		assert.Equal(t, http.StatusServiceUnavailable, a.status, a.body)
		if strings.Contains(a.body, `"type":"error"`) { // Anthropic's format
			assert.Contains(t, a.body, `"type":"overloaded_error"`)
		} else {
			assert.Contains(t, a.body, `"code":"draining"`)
		}
		assert.Contains(t, a.body, "the gateway is shutting down")
	}
	for _, l := range e.logs.FilterMessage("request").All() {
		assert.Equal(t, int64(503), l.ContextMap()["status"])
	}
}
