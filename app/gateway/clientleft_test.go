package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/khivetest"
)

// A client that leaves is never an upstream cut: having read the last
// event it is a complete 200, before it a 499.
func TestClientThatLeavesMidStreamIsNoUpstreamCut(t *testing.T) {
	for _, tc := range []struct {
		name     string
		readTo   string // the client closes once it has read a line containing this
		finished bool   // the upstream has sent its last event by then
		status   int
	}{
		{"after the last event", `"finish_reason":"stop"`, true, http.StatusOK},
		{"before the last event", `"content":"Hel"`, false, 499},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The upstream sends its chunks, then holds the stream open (no
			// [DONE]) until the gateway lets go of it.
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprint(w, "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n")
				if tc.finished {
					fmt.Fprint(w, "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
				}
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			}))
			defer up.Close()
			e := newEnv(t, func(c *khive.Config, _ *gateway.Config) {
				ec := c.Endpoints["up"]
				ec.BaseURL = up.URL + "/v1"
				c.Endpoints["up"] = ec
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url("/v1/chat/completions"),
				strings.NewReader(`{"model":"up/m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+clientKey)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() && !strings.Contains(sc.Text(), tc.readTo) {
			}
			require.Contains(t, sc.Text(), tc.readTo)
			cancel()
			resp.Body.Close()

			require.Eventually(t, func() bool { return e.logs.FilterMessage("request").Len() == 1 }, 5*time.Second, 5*time.Millisecond)
			f := e.logs.FilterMessage("request").All()[0].ContextMap()
			assert.EqualValues(t, tc.status, f["status"])
			assert.Equal(t, "", f["cut"], "not an upstream cut")
			assert.Zero(t, e.logs.FilterMessage("stream ended with an error").Len())
			_, body := e.get("/metrics")
			assert.Contains(t, body, fmt.Sprintf(`khive_gateway_requests_total{endpoint="up",model="up",route="chat",status="%d"} 1`, tc.status))
		})
	}
}

// The access log's attempts are the requests the upstream saw.
func TestAccessLogAttemptsAreWhatTheUpstreamSaw(t *testing.T) {
	for _, faults := range [][]khivetest.Fault{
		{{Kind: khivetest.ResetMidBody}},
		{{Kind: khivetest.ResetMidBody}, {Kind: khivetest.ResetMidBody}},
		{{Kind: khivetest.Status, Status: 503}},
		{{Kind: khivetest.ResetBefore}},
	} {
		e := newEnv(t)
		up := e.ups["up"]
		up.Script(faults...)
		status, _, body := e.post("/v1/chat/completions", `{"model":"up/m","messages":[{"role":"user","content":"x"}]}`)
		require.Eventually(t, func() bool { return e.logs.FilterMessage("request").Len() == 1 }, 5*time.Second, 5*time.Millisecond)
		f := e.logs.FilterMessage("request").All()[0].ContextMap()
		assert.EqualValues(t, up.Requests(), f["attempts"], "faults %v: status %d %s", faults, status, body)
	}
}

// An OpenAI-compatible upstream's 400 reaches the client as it was sent:
// its param and code too.
func TestUpstreamErrorBodyPassesThrough(t *testing.T) {
	const upstreamBody = `{"error":{"message":"Invalid 'messages[0].content': string too long.","type":"invalid_request_error","param":"messages[0].content","code":"string_above_max_length"}}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, upstreamBody)
	}))
	defer up.Close()
	e := newEnv(t, func(c *khive.Config, _ *gateway.Config) {
		ec := c.Endpoints["up"]
		ec.BaseURL = up.URL + "/v1"
		c.Endpoints["up"] = ec
	})
	status, _, body := e.post("/v1/chat/completions", `{"model":"up/m","messages":[{"role":"user","content":"x"}]}`)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.JSONEq(t, upstreamBody, body)
}
