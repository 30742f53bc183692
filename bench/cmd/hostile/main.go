// Command hostile measures the gateway, run as its own process, against
// clients that would exhaust it: 100 concurrent 9 MB bodies (peak RSS, what
// they get, and whether small requests keep being served meanwhile), and
// 10 000 requests with distinct 1 MB model names (RSS and /metrics before
// and after).
//
//	cd bench && go run ./cmd/hostile [-bodies 100] [-names 10000]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/khive-go/khive/bench/internal/gatewayproc"
	"github.com/khive-go/khive/bench/internal/stats"
	"github.com/khive-go/khive/khivetest"
)

const key = "k-hostile"

func main() {
	bodies := flag.Int("bodies", 100, "concurrent 9 MB bodies")
	names := flag.Int("names", 10000, "requests with distinct 1 MB model names")
	flag.Parse()

	up := khivetest.New()
	defer up.Close()
	up.SetLatency(200 * time.Millisecond) // admitted bodies are held a while
	gw := gatewayproc.Start(fmt.Sprintf(`
endpoints:
  up: {provider: openai, endpoint: chat, base_url: %s, api_key: sk-up}
gateway:
  keys: [%s]
  models_refresh: -1s
`, up.BaseURL(), key), io.Discard)
	defer gw.Stop()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}, Timeout: time.Minute}
	post := func(body []byte) (int, error) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+gw.Addr+"/v1/chat/completions", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	fmt.Printf("gateway RSS at start: %d KiB\n\n", gw.RSSKiB())

	var mu sync.Mutex
	var wg sync.WaitGroup

	// 1. Distinct 1 MB model names.
	metricsSize := func() int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+gw.Addr+"/metrics", nil)
		resp, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return len(b)
	}
	_, _ = post([]byte(`{"model":"nope","messages":[{"role":"user","content":"x"}]}`)) // the 404 series exists
	rssBefore, mBefore := gw.RSSKiB(), metricsSize()
	pad := strings.Repeat("m", 1<<20)
	var next atomic.Int64
	for range 4 { // few at once: what is measured is what stays, not what is in flight
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(*names) {
					return
				}
				body := fmt.Sprintf(`{"model":"%d-%s","messages":[{"role":"user","content":"x"}]}`, i, pad)
				if s, err := post([]byte(body)); err != nil || s != http.StatusNotFound {
					fmt.Fprintln(os.Stderr, "unexpected:", s, err)
				}
			}
		})
	}
	wg.Wait()
	rssAfter, mAfter := gw.RSSKiB(), metricsSize()
	fmt.Printf("%d distinct 1 MB model names: RSS %d -> %d KiB (%+d KiB); /metrics %d -> %d bytes (%+d)\n",
		*names, rssBefore, rssAfter, rssAfter-rssBefore, mBefore, mAfter, mAfter-mBefore)

	// 2. Concurrent big bodies, small requests beside them.
	big := []byte(fmt.Sprintf(`{"model":"up/m","messages":[{"role":"user","content":"%s"}]}`, strings.Repeat("x", 9<<20-80)))
	small := []byte(`{"model":"up/m","messages":[{"role":"user","content":"hi"}]}`)
	statuses := map[int]int{}
	for range *bodies {
		wg.Go(func() {
			s, err := post(big)
			if err != nil {
				s = -1
			}
			mu.Lock()
			statuses[s]++
			mu.Unlock()
		})
	}
	var smallOK, smallAll atomic.Int64
	var smallLat []time.Duration
	done := make(chan struct{})
	var sg sync.WaitGroup
	sg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			began := time.Now()
			s, err := post(small)
			smallAll.Add(1)
			if err == nil && s == http.StatusOK {
				smallOK.Add(1)
				mu.Lock()
				smallLat = append(smallLat, time.Since(began))
				mu.Unlock()
			}
		}
	})
	wg.Wait()
	close(done)
	sg.Wait()
	sl := stats.Of(smallLat)
	fmt.Printf("%d concurrent 9 MB bodies: statuses %v (-1: connection error); peak RSS %s\n", *bodies, statuses, gw.PeakRSS())
	fmt.Printf("small requests meanwhile: %d of %d served, p50 %v, p99 %v\n\n", smallOK.Load(), smallAll.Load(), sl.P50, sl.P99)
}
