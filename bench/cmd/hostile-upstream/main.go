// Command hostile-upstream runs the gateway as its own process in front of
// an upstream in each of khivetest's hostile modes and reports, per mode,
// the gateway's peak RSS (VmHWM, a fresh process each), what the client
// got, and how long it took. The issue that bounded these reads recorded
// the figures before; bench/README.md holds both.
//
//	cd bench && go run ./cmd/hostile-upstream
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/khive-go/khive/bench/internal/gatewayproc"
	"github.com/khive-go/khive/khivetest"
)

func main() {
	modes := []struct {
		name   string
		fault  khivetest.Fault
		stream bool
	}{
		{"stream: `data: aaaa…`, no newline, for 20 s", khivetest.Fault{Kind: khivetest.EndlessLine}, true},
		{"stream: data lines never closed by a blank line", khivetest.Fault{Kind: khivetest.EndlessEvent}, true},
		{"stream: one 100 MiB data line", khivetest.Fault{Kind: khivetest.HugeLine}, true},
		{"200, 0.5 MiB gzip inflating to 512 MiB", khivetest.Fault{Kind: khivetest.GzipBomb}, false},
		{"500, gzip inflating to 256 MiB (retried)", khivetest.Fault{Kind: khivetest.GzipBomb, Status: 500, Size: 256 << 20}, false},
		{"stream request answered 200 text/html", khivetest.Fault{Kind: khivetest.WrongContentType}, true},
		{"stream without its terminal event", khivetest.Fault{Kind: khivetest.NoTerminalEvent}, true},
		{"stream error event holding the upstream key", khivetest.Fault{Kind: khivetest.SecretEvent}, true},
	}
	fmt.Println("| upstream sends | gateway peak RSS | client got | took |\n| --- | ---: | --- | ---: |")
	for _, m := range modes {
		up := khivetest.New()
		up.Key = "sk-hostile-upstream-key"
		up.Always(m.fault)
		gw := gatewayproc.Start(fmt.Sprintf(`
endpoints:
  up: {provider: openai, endpoint: chat, base_url: %s, api_key: %s}
gateway:
  models_refresh: -1s
`, up.BaseURL(), up.Key), io.Discard)
		body := `{"model":"up/m","messages":[{"role":"user","content":"x"}]}`
		if m.stream {
			body = `{"model":"up/m","stream":true,"messages":[{"role":"user","content":"x"}]}`
		}
		client := &http.Client{Timeout: 20 * time.Second}
		start := time.Now()
		resp, err := client.Post("http://"+gw.Addr+"/v1/chat/completions", "application/json", strings.NewReader(body))
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			b, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
			resp.Body.Close()
			got = fmt.Sprintf("%d, %s", resp.StatusCode, describe(b, rerr, up.Key))
		}
		took := time.Since(start)
		fmt.Printf("| %s | %s | %s | %v |\n", m.name, gw.PeakRSS(), got, took.Round(time.Millisecond))
		gw.Stop()
		up.Close()
	}
}

// describe sums up what the client read: its size, the error it names, and
// whether the upstream's key reached it.
func describe(b []byte, err error, key string) string {
	s := fmt.Sprintf("%d bytes", len(b))
	if m := message.FindSubmatch(b); m != nil {
		msg, _ := strconv.Unquote(`"` + string(m[1]) + `"`)
		if len(msg) > 110 {
			msg = msg[:110] + "…"
		}
		s += `, "` + strings.ReplaceAll(msg, "|", "/") + `"`
	}
	if strings.Contains(string(b), key) {
		s += ", THE UPSTREAM KEY"
	}
	if err != nil {
		s += ", read error: " + err.Error()
	}
	return s
}

// message finds an error's message in a JSON body or an event's data.
var message = regexp.MustCompile(`"message":"((?:[^"\\]|\\.)*)"`)

func init() { log.SetFlags(0) }
