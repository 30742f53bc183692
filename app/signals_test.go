package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SIGHUP during a stream, to the gateway as `go run ./app` runs it: the
// stream completes, and the process goes on until SIGTERM drains it.
func TestHangupDuringAStreamLetsItComplete(t *testing.T) {
	const chunks = 6
	hup := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range chunks {
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%d\"}}]}\n\n", i)
			w.(http.Flusher).Flush()
			if i == 0 {
				<-hup // the rest comes once the gateway has had its SIGHUP
			}
		}
		fmt.Fprint(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	defer up.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "khive.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(
		"endpoints:\n  slow: {provider: openai, endpoint: chat, base_url: %q, api_key: k}\n", up.URL+"/v1")), 0o600))

	// run logs to os.Stderr: into a file here, read for the address.
	logFile, err := os.Create(filepath.Join(dir, "stderr.log"))
	require.NoError(t, err)
	defer logFile.Close()
	stderr := os.Stderr
	os.Stderr = logFile
	defer func() { os.Stderr = stderr }()
	exit := make(chan int, 1)
	go func() { exit <- run([]string{"-config", cfg, "-listen", "127.0.0.1:0"}, logFile) }()

	var addr string
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(logFile.Name())
		for _, line := range strings.Split(string(b), "\n") {
			var entry struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "gateway listening" {
				addr = entry.Addr
			}
		}
		return addr != ""
	}, 10*time.Second, 5*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/chat/completions",
		strings.NewReader(`{"model":"slow/m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var data []string
	for sc.Scan() {
		d, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		data = append(data, d)
		if len(data) == 1 {
			require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
			require.Eventually(t, func() bool {
				b, _ := os.ReadFile(logFile.Name())
				return strings.Contains(string(b), "SIGHUP ignored")
			}, 5*time.Second, time.Millisecond)
			close(hup)
		}
	}
	require.NoError(t, sc.Err())
	assert.Len(t, data, chunks+2, "every chunk, the finish and [DONE]")
	assert.Equal(t, "[DONE]", data[len(data)-1])

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case code := <-exit:
		assert.Equal(t, 0, code, "a clean stop after SIGTERM")
	case <-time.After(15 * time.Second):
		t.Fatal("the gateway did not stop on SIGTERM")
	}
	b, err := os.ReadFile(logFile.Name())
	require.NoError(t, err)
	assert.Contains(t, string(b), `"msg":"request"`)
	assert.Contains(t, string(b), `"status":200`)
	assert.Contains(t, string(b), `"signal":"terminated"`)
}
