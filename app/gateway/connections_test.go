package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
)

// rawPost opens a connection and sends a POST's headers and the first part
// of a body that claims to be longer.
func rawPost(t *testing.T, addr string, auth bool, firstBytes string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	h := "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n"
	if auth {
		h += "Authorization: Bearer " + clientKey + "\r\n"
	}
	_, err = io.WriteString(c, h+"\r\n"+firstBytes)
	require.NoError(t, err)
	return c
}

// closedWithin reads the connection's answer and reports its status and
// whether the server closed the connection within d.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) (int, bool) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(d)))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp.StatusCode, err == io.EOF
}

func TestSlowUnauthenticatedBodyIsCutAtOnce(t *testing.T) {
	e := newEnv(t)
	c := rawPost(t, e.srv.Addr(), false, "{")
	status, closed := closedWithin(t, c, time.Second)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.True(t, closed, "refused without waiting for the body: the connection is closed, not drained")
}

func TestTricklingBodyIsCutAtTheReadTimeout(t *testing.T) {
	e := newEnv(t, func(_ *khive.Config, g *gateway.Config) { g.ReadTimeout = 200 * time.Millisecond })
	c := rawPost(t, e.srv.Addr(), true, `{"model":"up/m",`)
	began := time.Now()
	status, closed := closedWithin(t, c, 2*time.Second)
	assert.Equal(t, http.StatusRequestTimeout, status)
	assert.True(t, closed)
	assert.Less(t, time.Since(began), time.Second)
	assert.Zero(t, e.ups["up"].Requests())
}

func TestIdleKeepAliveIsClosed(t *testing.T) {
	e := newEnv(t, func(_ *khive.Config, g *gateway.Config) { g.IdleTimeout = 200 * time.Millisecond })
	c, err := net.Dial("tcp", e.srv.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(2*time.Second)))
	began := time.Now()
	_, err = br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "the server closed the idle connection")
	assert.Less(t, time.Since(began), time.Second)
}

func TestSlowClientsDoNotStopHealthOrServedRequests(t *testing.T) {
	e := newEnv(t, func(_ *khive.Config, g *gateway.Config) { g.MaxConnections = 20 })
	stop := make(chan struct{})
	var wg, sent sync.WaitGroup // sent: each client's first connection is open with its headers sent
	sent.Add(60)
	for range 60 { // three times max_connections, unauthenticated, trickling bodies
		wg.Go(func() {
			first := true
			for {
				c, err := net.Dial("tcp", e.srv.Addr())
				if err != nil {
					if first {
						sent.Done()
					}
					return
				}
				_, _ = io.WriteString(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\n\r\n{")
				if first {
					first = false
					sent.Done()
				}
				select {
				case <-stop:
					c.Close()
					return
				case <-time.After(20 * time.Millisecond):
				}
				c.Close()
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	sent.Wait()
	for range 5 {
		began := time.Now()
		status, _ := e.get("/healthz")
		assert.Equal(t, http.StatusOK, status)
		assertLatency(t, time.Since(began), 100*time.Millisecond, "/healthz")
		began = time.Now()
		status, _, body := e.post("/v1/chat/completions", `{"model":"up/m","messages":[{"role":"user","content":"x"}]}`)
		assert.Equal(t, http.StatusOK, status, body)
		assertLatency(t, time.Since(began), 100*time.Millisecond, "an authenticated request")
	}
}

func TestInflightBodiesAreBounded(t *testing.T) {
	e := newEnv(t, func(_ *khive.Config, g *gateway.Config) { g.MaxInflightBodyBytes = 1 << 20 })
	e.ups["up"].SetLatency(300 * time.Millisecond)
	big := fmt.Sprintf(`{"model":"up/m","messages":[{"role":"user","content":"%s"}]}`, strings.Repeat("x", 700<<10))
	first := make(chan int, 1)
	go func() {
		status, _, _ := e.post("/v1/chat/completions", big)
		first <- status
	}()
	for e.ups["up"].InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	status, h, body := e.post("/v1/chat/completions", big)
	assert.Equal(t, http.StatusServiceUnavailable, status, body)
	assert.Equal(t, "1", h.Get("Retry-After"))
	status, _, body = e.post("/v1/chat/completions", `{"model":"up/m","messages":[{"role":"user","content":"small"}]}`)
	assert.Equal(t, http.StatusOK, status, "small requests keep being served: %s", body)
	assert.Equal(t, http.StatusOK, <-first)
	status, _, _ = e.post("/v1/chat/completions", big)
	assert.Equal(t, http.StatusOK, status, "the budget came back")
}
