package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keepAlive is one client connection used for request after request, as
// the official SDKs' keep-alive agents use theirs.
type keepAlive struct {
	t     *testing.T
	addr  string
	c     net.Conn
	br    *bufio.Reader
	dials int
}

func (k *keepAlive) dial() {
	c, err := net.Dial("tcp", k.addr)
	require.NoError(k.t, err)
	k.c, k.br = c, bufio.NewReader(c)
	k.dials++
	k.t.Cleanup(func() { c.Close() })
}

// do sends one request on the connection (a new one only when the last
// answer said Connection: close) and returns the status and the body.
func (k *keepAlive) do(method, path, body string, auth bool) (int, string) {
	k.t.Helper()
	if k.c == nil {
		k.dial()
	}
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: gw\r\n", method, path)
	if auth {
		req += "Authorization: Bearer " + clientKey + "\r\n"
	}
	if body != "" {
		req += fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	_, err := io.WriteString(k.c, req+"\r\n"+body)
	require.NoError(k.t, err)
	require.NoError(k.t, k.c.SetReadDeadline(time.Now().Add(5*time.Second)))
	resp, err := http.ReadResponse(k.br, nil)
	require.NoError(k.t, err, "%s %s", method, path)
	b, err := io.ReadAll(resp.Body)
	require.NoError(k.t, err)
	resp.Body.Close()
	if resp.Close {
		k.c.Close()
		k.c = nil
	}
	return resp.StatusCode, string(b)
}

// Keep-alive clients are never cut: GETs, plain and streamed POSTs and
// refusals back to back on one connection each get their whole answer,
// and none is logged as a client that left.
func TestKeepAliveConnectionServesEveryKindOfRequest(t *testing.T) {
	e := newEnv(t)
	k := &keepAlive{t: t, addr: e.srv.Addr()}
	chat := `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`
	stream := `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	const rounds = 25
	for i := range rounds {
		status, body := k.do("GET", "/v1/models", "", true)
		require.Equal(t, http.StatusOK, status, "round %d", i)
		assert.Contains(t, body, `"fast"`)

		status, body = k.do("POST", "/v1/chat/completions", chat, true)
		require.Equal(t, http.StatusOK, status, "round %d: a POST after a GET", i)
		assert.Contains(t, body, "echo: hi")

		status, body = k.do("GET", "/v1/models/fast", "", true)
		require.Equal(t, http.StatusOK, status, "round %d", i)
		assert.Contains(t, body, `"id":"fast"`)

		status, body = k.do("POST", "/v1/chat/completions", stream, true)
		require.Equal(t, http.StatusOK, status, "round %d: a stream after a GET", i)
		assert.Contains(t, body, "data: [DONE]")

		status, body = k.do("POST", "/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, true)
		require.Equal(t, http.StatusNotFound, status, "round %d", i)
		assert.Contains(t, body, "model_not_found")

		status, _ = k.do("GET", "/v1/models", "", false) // refused: no key
		require.Equal(t, http.StatusUnauthorized, status, "round %d", i)

		status, _ = k.do("POST", "/v1/chat/completions", chat, false) // refused before its body is read
		require.Equal(t, http.StatusUnauthorized, status, "round %d", i)
	}
	// Only the refusals of a request with an unread body close the
	// connection; everything else is served on the one it came on.
	assert.Equal(t, rounds, k.dials, "one connection a round: the last request of each closes it")
	for _, l := range e.logs.FilterMessage("request").All() {
		assert.NotEqual(t, int64(499), l.ContextMap()["status"], "no request is logged as a client that left: %v", l.ContextMap())
	}
	assert.Equal(t, rounds*7, e.logs.FilterMessage("request").Len())
}

// A handler that answers before reading the body (a GET route given a
// body) says Connection: close, so the client does not reuse a
// connection the rest of the body holds.
func TestAnswerBeforeTheBodyClosesTheConnection(t *testing.T) {
	e := newEnv(t)
	k := &keepAlive{t: t, addr: e.srv.Addr()}
	status, _ := k.do("GET", "/v1/models", strings.Repeat(" ", 100), true)
	assert.Equal(t, http.StatusOK, status)
	assert.Nil(t, k.c, "the answer said Connection: close")
	status, _ = k.do("GET", "/v1/models", "", true)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, 2, k.dials)
}
