package gateway_test

import (
	"context"
	"net/http"
	"strconv"
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

// oneASecond limits endpoint "up" to one request a second with a max_wait
// of 100 ms: after the first request, the next is shed at once.
func oneASecond(c *khive.Config, _ *gateway.Config) {
	up := c.Endpoints["up"]
	up.Limits = endpoint.Limits{RequestsPerMinute: 60, Burst: 1, MaxWait: 100 * time.Millisecond}
	c.Endpoints["up"] = up
}

func TestShedIs429WithRetryAfterInEachFormat(t *testing.T) {
	for _, tt := range []struct {
		route, body, errorShape string
	}{
		{"/v1/chat/completions", `{"model":"up/m","messages":[{"role":"user","content":"x"}]}`, `"type":"rate_limit_error"`},
		{"/v1/messages", `{"model":"up/m","max_tokens":8,"messages":[{"role":"user","content":"x"}]}`, `"type":"error"`},
	} {
		t.Run(tt.route, func(t *testing.T) {
			e := newEnv(t, oneASecond)
			status, _, body := e.post(tt.route, tt.body)
			require.Equal(t, http.StatusOK, status, body)
			began := time.Now()
			status, h, body := e.post(tt.route, tt.body)
			// Waiting would take the second until the next token: half of
			// it tells a refusal from a wait on any machine.
			assert.Less(t, time.Since(began), 500*time.Millisecond, "refused when it reserved, without waiting")
			assert.Equal(t, http.StatusTooManyRequests, status, body)
			assert.Contains(t, body, tt.errorShape)
			assert.Contains(t, body, "rate_limit_error")
			assert.Equal(t, "1", h.Get("Retry-After"), "the next token is up to a second away, rounded up")
			ms, err := strconv.Atoi(h.Get("Retry-After-Ms"))
			require.NoError(t, err)
			assert.InDelta(t, 1000, ms, 150)
			assert.Equal(t, int64(1), e.ups["up"].Requests(), "the shed request never reached the upstream")
		})
	}
}

func TestAliasFallsBackOnAShed(t *testing.T) {
	e := newEnv(t, oneASecond)
	for _, want := range []string{"up", "other"} {
		status, h, body := e.post("/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"x"}]}`)
		require.Equal(t, http.StatusOK, status, body)
		assert.Equal(t, want, h.Get("X-Khive-Endpoint"))
	}
}

func TestDisconnectedClientIs499(t *testing.T) {
	e := newEnv(t)
	e.ups["up"].Always(khivetest.Fault{Kind: khivetest.Hang})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url("/v1/chat/completions"),
		strings.NewReader(`{"model":"up/m","messages":[{"role":"user","content":"x"}]}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+clientKey)
	_, err = http.DefaultClient.Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	require.Eventually(t, func() bool { return e.logs.FilterMessage("request").Len() == 1 }, 5*time.Second, 5*time.Millisecond)
	f := e.logs.FilterMessage("request").All()[0].ContextMap()
	assert.EqualValues(t, 499, f["status"], "a client that left is not an upstream failure")
	_, body := e.get("/metrics")
	assert.Contains(t, body, `khive_gateway_requests_total{endpoint="up",model="up",route="chat",status="499"} 1`)
	assert.NotContains(t, body, `status="502"`)
}
