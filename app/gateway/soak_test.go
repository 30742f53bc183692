//go:build soak

package gateway_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/khivetest"
)

// The soak tests run with -tags soak (see .ci/run):
//
//	go test -race -tags soak -run Soak -v ./app/gateway/

func soakEnv(t *testing.T, more ...option_) *env {
	e := newEnv(t, append([]option_{func(c *khive.Config, g *gateway.Config) {
		for name, ec := range c.Endpoints {
			ec.Timeout = 300 * time.Millisecond
			ec.Retry.MaxAttempts = 2
			c.Endpoints[name] = ec
		}
		g.RequestTimeout = 2 * time.Second
		g.ShutdownTimeout = 2 * time.Second
	}}, more...)...)
	for i, name := range []string{"up", "other", "anth"} {
		up := e.ups[name]
		up.SetLatency(5 * time.Millisecond)
		up.SetJitter(10 * time.Millisecond)
		up.Mix(int64(42+i),
			khivetest.Weighted{Fault: khivetest.Fault{Kind: khivetest.Status, Status: 500}, Share: 0.03},
			khivetest.Weighted{Fault: khivetest.Fault{Kind: khivetest.Status, Status: 502}, Share: 0.03},
			khivetest.Weighted{Fault: khivetest.Fault{Kind: khivetest.Status, Status: 503}, Share: 0.03},
			khivetest.Weighted{Fault: khivetest.Fault{Kind: khivetest.Status, Status: 429,
				Headers: map[string]string{"retry-after-ms": "20", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20ms"}}, Share: 0.03},
			khivetest.Weighted{Fault: khivetest.Fault{Kind: khivetest.ResetBefore}, Share: 0.02},
			khivetest.Weighted{Fault: khivetest.Fault{Kind: khivetest.ResetMidBody}, Share: 0.02},
			khivetest.Weighted{Fault: khivetest.Fault{Kind: khivetest.Hang}, Share: 0.01},
			khivetest.Weighted{Fault: khivetest.Fault{Kind: khivetest.SlowBody}, Share: 0.02},
			khivetest.Weighted{Fault: khivetest.Fault{Kind: khivetest.Malformed}, Share: 0.02},
			khivetest.Weighted{Fault: khivetest.Fault{Kind: khivetest.CutStream}, Share: 0.02},
			khivetest.Weighted{Fault: khivetest.Fault{Kind: khivetest.ErrorEvent}, Share: 0.01},
		)
	}
	return e
}

// tally counts outcomes by kind.
type tally struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *tally) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[k]++
}

func (c *tally) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

func (c *tally) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.m {
		n += v
	}
	return n
}

func (c *tally) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ks []string
	for k := range c.m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for _, k := range ks {
		fmt.Fprintf(&b, "%s=%d ", k, c.m[k])
	}
	return b.String()
}

var soakRequests = []struct {
	path, body string
	stream     bool
}{
	{"/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"soak a b c"}]}`, false},
	{"/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"soak a b c"}]}`, false},
	{"/v1/chat/completions", `{"model":"fast","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"soak a b c"}]}`, true},
	{"/v1/chat/completions", `{"model":"smart","stream":true,"messages":[{"role":"user","content":"soak a b c"}]}`, true},
	{"/v1/embeddings", `{"model":"emb","input":["a","b"],"encoding_format":"base64"}`, false},
	{"/v1/messages", `{"model":"smart","max_tokens":50,"messages":[{"role":"user","content":"soak a b c"}]}`, false},
}

// soakOne sends one request and classifies what came back: "unanswered"
// means the client gave up waiting (a hang); "closed" a connection closed
// with no answer; "refused" a connection refused.
func soakOne(client *http.Client, base string, i int) string {
	r := soakRequests[i%len(soakRequests)]
	req, _ := http.NewRequest(http.MethodPost, base+r.path, strings.NewReader(r.body))
	req.Header.Set("Authorization", "Bearer "+clientKey)
	resp, err := client.Do(req)
	if err != nil {
		var ne interface{ Timeout() bool }
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			return "unanswered"
		case strings.Contains(err.Error(), "connection refused"):
			return "refused"
		}
		return "closed"
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return fmt.Sprintf("status-%d", resp.StatusCode)
	}
	if !r.stream {
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return "body-cut"
		}
		return "ok"
	}
	sc := bufio.NewScanner(resp.Body)
	outcome := "stream-ended-silently"
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "data: [DONE]":
			outcome = "ok"
		case strings.HasPrefix(line, `data: {"error"`):
			outcome = "stream-error-in-band"
		}
	}
	if sc.Err() != nil && outcome != "ok" && outcome != "stream-error-in-band" {
		return "stream-cut"
	}
	return outcome
}

// load sends requests at a steady rate until stop closes, and waits for them.
func load(e *env, client *http.Client, rate int, stop <-chan struct{}, counts *tally) {
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	base := "http://" + e.srv.Addr()
	for i := 0; ; i++ {
		select {
		case <-stop:
			wg.Wait()
			return
		case <-tick.C:
			wg.Go(func() { counts.add(soakOne(client, base, i)) })
		}
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestSoak(t *testing.T) {
	dur := 30 * time.Second
	if d, err := time.ParseDuration(os.Getenv("KHIVE_SOAK_DURATION")); err == nil {
		dur = d
	}
	baseGoroutines, baseHeap := runtime.NumGoroutine(), heapAlloc()
	e := soakEnv(t)
	client := &http.Client{Timeout: 6 * time.Second}
	var counts tally
	stop := make(chan struct{})
	time.AfterFunc(dur, func() { close(stop) })
	began := time.Now()
	load(e, client, 100, stop, &counts)
	t.Logf("soak: %d requests in %v: %s", counts.total(), time.Since(began).Round(time.Millisecond), &counts)

	for _, k := range []string{"unanswered", "closed", "refused", "body-cut", "stream-cut"} {
		assert.Zero(t, counts.get(k), "every request got an answer: %s", k)
	}
	assert.Zero(t, counts.get("stream-ended-silently"), "no stream ended without [DONE] or an error")
	assert.Greater(t, counts.get("ok"), counts.total()*9/10, "faults are mostly absorbed by retries and fallbacks")

	e.app.RequireStop()
	for _, up := range e.ups {
		up.Close()
	}
	client.CloseIdleConnections()
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= baseGoroutines+2 }, 5*time.Second, 20*time.Millisecond,
		"goroutines back to the baseline %d (now %d)", baseGoroutines, runtime.NumGoroutine())
	after := heapAlloc()
	t.Logf("goroutines: baseline %d, after %d; heap: baseline %d KiB, after %d KiB", baseGoroutines, runtime.NumGoroutine(), baseHeap>>10, after>>10)
	assert.Less(t, after, baseHeap+16<<20, "heap back near its baseline")
}

func TestSoakShutdown(t *testing.T) {
	e := soakEnv(t, func(_ *khive.Config, g *gateway.Config) { g.DrainDelay = 300 * time.Millisecond })
	client := &http.Client{Timeout: 6 * time.Second}
	var counts tally
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { load(e, client, 100, stop, &counts); close(done) }()

	time.Sleep(2 * time.Second) // the load runs; then the gateway stops under it
	began := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- e.app.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Stop hung under load")
	}
	took := time.Since(began)
	time.Sleep(500 * time.Millisecond) // requests keep coming after the stop
	close(stop)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("requests hung after the stop")
	}
	t.Logf("shutdown under load: Stop took %v; %d requests: %s", took.Round(time.Millisecond), counts.total(), &counts)
	assert.Less(t, took, 300*time.Millisecond+2*time.Second+time.Second, "within drain_delay, shutdown_timeout and a margin")
	assert.Zero(t, counts.get("unanswered"), "nothing hung")
	assert.Zero(t, counts.get("stream-ended-silently"))
	assert.Positive(t, counts.get("status-503"), "requests during the drain delay were told 503")
	assert.Positive(t, counts.get("refused"), "requests after the stop were refused")
	assert.Positive(t, counts.get("ok"))
	client.CloseIdleConnections()
}
