// Command gateway measures the latency the gateway adds: an open-loop load
// at a constant rate (each request sent at its scheduled time, whether or not
// earlier ones have finished, like Vegeta) against a fake upstream with a
// fixed latency, sent once straight to the upstream and once through the
// gateway (`go run ./app`, built and started as its own process). It reports
// mean, p50 and p99 of both and of their difference, and the gateway
// process's peak RSS.
//
//	cd bench && go run ./cmd/gateway [-duration 5s] [-rates 500,2000,5000]
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/khive-go/khive/bench/internal/gatewayproc"
	"github.com/khive-go/khive/bench/internal/openloop"
	"github.com/khive-go/khive/bench/internal/stats"
	"github.com/khive-go/khive/khivetest"
)

const body = `{"model":"up/gpt-4o-mini","messages":[{"role":"user","content":"hello there"}]}`

func main() {
	duration := flag.Duration("duration", 5*time.Second, "load duration per rate and target")
	rates := flag.String("rates", "500,2000,5000", "requests per second")
	upLatency := flag.Duration("upstream-latency", time.Millisecond, "the fake upstream's fixed latency")
	gogc := flag.String("gateway-gogc", "", "GOGC for the gateway process (default: Go's)")
	flag.Parse()

	up := khivetest.New()
	defer up.Close()
	up.SetLatency(*upLatency)

	logFile, err := os.CreateTemp("", "khive-gateway-log")
	if err != nil {
		log.Fatal(err)
	}
	logPath := logFile.Name()
	defer os.Remove(logPath)
	defer logFile.Close()
	var env []string
	if *gogc != "" {
		env = append(env, "GOGC="+*gogc)
	}
	// The access log (stderr): duration and upstream_duration per request.
	gw := gatewayproc.Start(gatewayproc.UpstreamConfig(up.BaseURL(), ""), logFile, env...)
	defer gw.Stop()
	addr := gw.Addr

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 10000, MaxIdleConnsPerHost: 10000, IdleConnTimeout: time.Minute}}
	direct := up.BaseURL() + "/chat/completions"
	viaGateway := "http://" + addr + "/v1/chat/completions"
	fmt.Printf("upstream latency %v, %v per run\n\n", *upLatency, *duration)
	fmt.Println("| rate/s | direct mean / p50 / p99 | gateway mean / p50 / p99 | added mean / p50 / p99 | inside the gateway mean / p50 / p99 | errors |")
	fmt.Println("| ---: | --- | --- | --- | --- | ---: |")
	for _, rs := range strings.Split(*rates, ",") {
		rate, _ := strconv.Atoi(rs)
		run(client, direct, rate, time.Second) // warm up
		run(client, viaGateway, rate, time.Second)
		d, derr := run(client, direct, rate, *duration)
		logStart, _ := logFile.Seek(0, io.SeekCurrent)
		g, gerr := run(client, viaGateway, rate, *duration)
		in := insideGateway(logPath, logStart)
		fmt.Printf("| %d | %v / %v / %v | %v / %v / %v | %v / %v / %v | %v / %v / %v | %d / %d |\n", rate,
			d.Mean, d.P50, d.P99, g.Mean, g.P50, g.P99, g.Mean-d.Mean, g.P50-d.P50, g.P99-d.P99, in.Mean, in.P50, in.P99, derr, gerr)
	}
	fmt.Printf("\ngateway peak RSS: %s\n", gw.PeakRSS())
}

// run sends rate requests per second for d, open loop, and summarises the
// latencies measured from each request's scheduled time.
func run(client *http.Client, url string, rate int, d time.Duration) (stats.Summary, int) {
	lat, errs := openloop.Post(client, url, "sk-bench", body, rate, d)
	s := stats.Of(lat)
	round := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
	s.Mean, s.P50, s.P99 = round(s.Mean), round(s.P50), round(s.P99)
	return s, errs
}

// insideGateway reads the access log from offset on and summarises each
// request's duration minus its upstream duration: the time the gateway
// itself spent, whatever the machine's other load did to the network hops.
func insideGateway(path string, offset int64) stats.Summary {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	_, _ = f.Seek(offset, io.SeekStart)
	var own []time.Duration
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg      string  `json:"msg"`
			Duration float64 `json:"duration"`
			Upstream float64 `json:"upstream_duration"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "request" {
			continue
		}
		own = append(own, time.Duration((line.Duration-line.Upstream)*float64(time.Second)))
	}
	s := stats.Of(own)
	round := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
	s.Mean, s.P50, s.P99 = round(s.Mean), round(s.P50), round(s.P99)
	return s
}
