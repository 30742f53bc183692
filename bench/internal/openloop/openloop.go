// Package openloop sends requests at a constant rate whether or not
// earlier ones have finished (as Vegeta does), timing each from its
// scheduled send: the load the gateway benchmarks measure under.
package openloop

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Post sends rate POSTs a second of body to url for d, with the bearer
// key, and returns each one's latency from its scheduled time and how
// many failed (an error, or a status other than 200).
func Post(client *http.Client, url, key, body string, rate int, d time.Duration) ([]time.Duration, int) {
	n := int(d.Seconds() * float64(rate))
	lat := make([]time.Duration, n)
	var mu sync.Mutex
	var errs int
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader([]byte(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := client.Do(req)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			lat[i] = time.Since(at)
			if err != nil {
				mu.Lock()
				errs++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return lat, errs
}
