package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

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
