package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/app/gateway/admission"
)

// postAs sends body with Content-Length (sized) or chunked, as key.
func (e *env) postAs(key, body string, chunked bool) (int, string) {
	e.t.Helper()
	var r io.Reader = strings.NewReader(body)
	if chunked {
		r = struct{ io.Reader }{r} // a reader of unknown length
	}
	req, err := http.NewRequest(http.MethodPost, e.url("/v1/chat/completions"), r)
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	if chunked {
		require.Zero(e.t, req.ContentLength, "a body of unknown length: net/http sends it chunked")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestChunkedBodiesPayTheirTokensLikeSizedOnes(t *testing.T) {
	body := `{"model":"up/m","stream":true,"messages":[{"role":"user","content":"` + strings.Repeat("word ", 800) + `"}]}` // ~1000 tokens
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			e := newEnv(t, withKeys(admission.ClientKey{Key: teamKey, Name: "team", TokensPerMinute: 1000}))
			statuses := map[int]int{}
			for range 10 {
				status, _ := e.postAs(teamKey, body, chunked)
				statuses[status]++
			}
			assert.Equal(t, map[int]int{http.StatusOK: 1, http.StatusTooManyRequests: 9}, statuses,
				"a body's estimate is its bytes, however it was sent")
		})
	}
}

func TestChunkedBodiesTakeTheBodyBudgetOfTheirSize(t *testing.T) {
	e := newEnv(t, func(_ *khive.Config, g *gateway.Config) { g.MaxInflightBodyBytes = 1 << 20 })
	e.ups["up"].SetLatency(200 * time.Millisecond)
	small := `{"model":"up/m","messages":[{"role":"user","content":"hi"}]}`
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	for i := range statuses {
		wg.Go(func() { statuses[i], _ = e.postAs(clientKey, small, true) })
	}
	wg.Wait()
	assert.Equal(t, []int{200, 200, 200, 200, 200, 200}, statuses, "a small chunked body holds its size, not max_body_bytes")

	big := fmt.Sprintf(`{"model":"up/m","messages":[{"role":"user","content":"%s"}]}`, strings.Repeat("x", 700<<10))
	first := make(chan int, 1)
	go func() {
		status, _ := e.postAs(clientKey, big, false)
		first <- status
	}()
	for e.ups["up"].InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	status, body := e.postAs(clientKey, big, true)
	assert.Equal(t, http.StatusServiceUnavailable, status, "a big chunked body does not fit beside another: %s", body)
	assert.Equal(t, http.StatusOK, <-first)
	status, body = e.postAs(clientKey, big, true)
	assert.Equal(t, http.StatusOK, status, "alone it fits: %s", body)
}

func TestChunkedBodyOverTheLimitIs413(t *testing.T) {
	e := newEnv(t, func(_ *khive.Config, g *gateway.Config) { g.MaxBodyBytes = 64 << 10 })
	big := fmt.Sprintf(`{"model":"up/m","messages":[{"role":"user","content":"%s"}]}`, strings.Repeat("x", 100<<10))
	status, body := e.postAs(clientKey, big, true)
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)
	assert.Contains(t, body, "request_too_large")
	assert.Zero(t, e.ups["up"].Requests(), "nothing reached the upstream")
}
