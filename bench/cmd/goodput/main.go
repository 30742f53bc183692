// Command goodput measures what clients get from a rate-limited provider
// through khive. The fake upstream enforces a token bucket (-limit per
// second, -burst) and reports it in OpenAI's headers and meaning (reset =
// time until full) or Anthropic's (reset = the instant it is full), with 429
// and retry-after-ms beyond it.
//
// The main table is open loop: requests arrive at a fixed rate, 0.8×, 1×, 2×
// and 5× the provider's limit, whatever the answers (each with a 30 s
// timeout), through an endpoint and through the gateway, as real clients
// arrive. A closed loop (a fixed number of callers, each waiting for its
// answer) slows itself down and hides queueing, retry storms and shedding;
// its table is kept below for comparison.
//
//	cd bench && go run ./cmd/goodput [-duration 5s] [-limit 50] [-burst 10] [-max-wait 1s]
//
// With -waits (a list of max_wait values, "-1ns" for unbounded) it runs
// instead the adaptive rows at 2× and 5× once per wait, the column "served
// max" showing the longest a served request took from its arrival (its
// wait plus the upstream's round trip):
//
//	cd bench && go run ./cmd/goodput -closed 0 -waits 1s,3s,10s,30s,-1ns
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/bench/internal/stats"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/khivetest"
	"github.com/khive-go/khive/providers"
)

var (
	duration = flag.Duration("duration", 5*time.Second, "arrivals per open-loop row")
	limit    = flag.Float64("limit", 50, "the provider's requests per second")
	burst    = flag.Int("burst", 10, "the provider's bucket size")
	maxWait  = flag.Duration("max-wait", time.Second, "khive's limits.max_wait")
	latency  = flag.Duration("latency", 20*time.Millisecond, "the upstream's latency (plus up to -jitter)")
	jitter   = flag.Duration("jitter", 10*time.Millisecond, "random extra upstream latency")
	closed   = flag.Duration("closed", 5*time.Second, "closed-loop run length (0: skip)")
	waits    = flag.String("waits", "", "comma-separated max_wait values: only the adaptive 2× and 5× rows, once per wait")
)

// clientTimeout bounds each client request: 30 s, or longer than a bounded
// max_wait; 90 s when the wait is unbounded.
var clientTimeout = 30 * time.Second

// family is a provider's header meaning and the route that speaks it.
type family struct {
	name     string
	style    khivetest.HeaderStyle
	provider string // catalog provider and endpoint
	kind     string
	route    string // the gateway route clients call
	body     []byte
}

var families = []family{
	{"openai", khivetest.OpenAIStyle, "openai", "chat", "/v1/chat/completions",
		[]byte(`{"model":"up/m","messages":[{"role":"user","content":"hi"}]}`)},
	{"anthropic", khivetest.AnthropicStyle, "anthropic", "messages", "/v1/messages",
		[]byte(`{"model":"up/m","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`)},
}

func main() {
	flag.Parse()
	if *waits != "" {
		waitsTable()
		return
	}
	fmt.Printf("provider: token bucket %.0f/s, burst %d, latency %v + [0, %v); khive max_wait %v; open loop %v per row, 30 s client timeout\n\n",
		*limit, *burst, *latency, *jitter, *maxWait, *duration)
	fmt.Println("| headers | limits | via | offered | served / allowed | upstream 429 | refused (429) | other errors | served p50 / p99 | refused p99 |")
	fmt.Println("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
	adaptive := endpoint.Limits{Adaptive: true, MaxWait: *maxWait}
	for _, f := range families {
		for _, via := range []string{"endpoint", "gateway"} {
			for _, mult := range []float64{0.8, 1, 2, 5} {
				row(f, "adaptive", adaptive, via, mult)
			}
		}
	}
	static := endpoint.Limits{RequestsPerMinute: *limit * 60, Burst: *burst, MaxWait: *maxWait}
	for _, via := range []string{"endpoint", "gateway"} {
		row(families[0], "static = provider's", static, via, 2)
		row(families[0], "none", endpoint.Limits{}, via, 0.8) // the latency baseline
		row(families[0], "none", endpoint.Limits{}, via, 2)
	}
	if *closed > 0 {
		closedLoopTable()
	}
}

// outcome is one client request's fate.
type outcome struct {
	served, refused bool
	took            time.Duration // from its scheduled arrival
}

// waitsTable is the adaptive rows at 2× and 5×, once per -waits value.
func waitsTable() {
	var list []time.Duration
	for _, w := range strings.Split(*waits, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(w))
		if err != nil {
			log.Fatalf("-waits: %v", err)
		}
		list = append(list, d)
	}
	fmt.Printf("provider: token bucket %.0f/s, burst %d, latency %v + [0, %v); open loop %v per row\n\n",
		*limit, *burst, *latency, *jitter, *duration)
	fmt.Println("| max_wait | headers | via | offered | served / allowed | upstream 429 | refused (429) | other errors | served p50 / p99 / max | refused p99 |")
	fmt.Println("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
	for _, w := range list {
		clientTimeout = max(30*time.Second, 2*w)
		label := w.String()
		if w < 0 {
			clientTimeout, label = 90*time.Second, "unbounded"
		}
		for _, f := range families {
			for _, via := range []string{"endpoint", "gateway"} {
				for _, mult := range []float64{2, 5} {
					fmt.Printf("| %s ", label)
					row(f, "", endpoint.Limits{Adaptive: true, MaxWait: w}, via, mult)
				}
			}
		}
	}
}

func row(f family, limitsName string, lim endpoint.Limits, via string, mult float64) {
	up := khivetest.New()
	defer up.Close()
	up.Enforce(*limit, *burst)
	up.SetHeaderStyle(f.style)
	up.SetLatency(*latency)
	up.SetJitter(*jitter)
	cfg, err := providers.Match(f.provider, f.kind, providers.WithBaseURL(up.BaseURL()),
		providers.WithAPIKey(endpoint.NewSecret("k")), providers.WithLimits(lim))
	if err != nil {
		log.Fatal(err)
	}
	do, stop := viaEndpoint(cfg, f)
	if via == "gateway" {
		do, stop = viaGateway(cfg, f)
	}
	start := time.Now()
	outs := openLoop(*limit*mult, *duration, do)
	elapsed := time.Since(start)
	stop()

	var served, refused []time.Duration
	others := 0
	for _, o := range outs {
		switch {
		case o.served:
			served = append(served, o.took)
		case o.refused:
			refused = append(refused, o.took)
		default:
			others++
		}
	}
	allowed := min(float64(len(outs)), float64(*burst)+*limit*elapsed.Seconds())
	total, limited := up.Requests(), up.Limited()
	s, r := stats.Of(served), stats.Of(refused)
	cells := []any{f.name, limitsName, via}
	format := "| %s | %s | %s | %.1f× (%d) | %.1f %% | %.2f %% (%d of %d) | %d | %d | %v / %v | %v |\n"
	latencies := []any{s.P50.Round(time.Millisecond), s.P99.Round(time.Millisecond)}
	if limitsName == "" { // the waits table: no limits column, and the longest
		cells = []any{f.name, via}
		format = "| %s | %s | %.1f× (%d) | %.1f %% | %.2f %% (%d of %d) | %d | %d | %v / %v / %v | %v |\n"
		latencies = append(latencies, s.Max.Round(time.Millisecond))
	}
	args := append(cells, mult, len(outs), float64(len(served))/allowed*100,
		pct(limited, total), limited, total, len(refused), others)
	args = append(append(args, latencies...), r.P99.Round(time.Millisecond))
	fmt.Printf(format, args...)
}

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b) * 100
}

// openLoop starts a request every 1/rate for d, whatever the answers.
func openLoop(rate float64, d time.Duration, do func(context.Context) outcome) []outcome {
	n := int(rate * d.Seconds())
	outs := make([]outcome, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		time.Sleep(time.Until(at))
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
			defer cancel()
			o := do(ctx)
			o.took = time.Since(at)
			outs[i] = o
		})
	}
	wg.Wait()
	return outs
}

func viaEndpoint(cfg endpoint.Config, f family) (func(context.Context) outcome, func()) {
	e, err := providers.NewEndpoint(cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	return func(ctx context.Context) outcome {
			_, err := e.Call(ctx, endpoint.Request{Body: f.body})
			var se *endpoint.StatusError
			refused := errors.Is(err, executor.ErrOverloaded) || errors.Is(err, executor.ErrQueueFull) ||
				errors.As(err, &se) && se.Status == http.StatusTooManyRequests
			return outcome{served: err == nil, refused: refused}
		}, func() {
			_ = e.Stop(context.Background())
		}
}

func viaGateway(cfg endpoint.Config, f family) (func(context.Context) outcome, func()) {
	ec := khive.EndpointConfig{Config: cfg} // already resolved from the catalog
	ec.Name = ""
	var srv *gateway.Server
	app := fx.New(
		fx.Supply(khive.Config{Endpoints: map[string]khive.EndpointConfig{"up": ec}},
			gateway.Config{Listen: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second}, zap.NewNop()),
		fx.NopLogger, khive.Module, gateway.Module, fx.Populate(&srv))
	if err := app.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	url := "http://" + srv.Addr() + f.route
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4096}}
	return func(ctx context.Context) outcome {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(f.body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				return outcome{}
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return outcome{served: resp.StatusCode == http.StatusOK, refused: resp.StatusCode == http.StatusTooManyRequests}
		}, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = app.Stop(ctx)
			client.CloseIdleConnections()
		}
}

// closedLoopTable is the earlier measure: 32 callers, each waiting for its
// answer before the next request, khive's endpoint against a plain client
// that retries on 429 after retry-after-ms.
func closedLoopTable() {
	const workers = 32
	fmt.Printf("\nclosed loop: %d callers, %v each, OpenAI headers\n\n", workers, *closed)
	fmt.Println("| client | goodput/s | of allowed | upstream requests | answered 429 |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: |")
	body := families[0].body

	up := khivetest.New()
	up.Enforce(*limit, *burst)
	cfg, err := providers.Match("openai", "chat", providers.WithBaseURL(up.BaseURL()), providers.WithAPIKey(endpoint.NewSecret("k")),
		providers.WithLimits(endpoint.Limits{Adaptive: true, MaxConcurrency: workers, MaxWait: time.Minute}))
	if err != nil {
		log.Fatal(err)
	}
	cfg.Retry = endpoint.RetryConfig{MaxAttempts: 10}
	e, err := providers.NewEndpoint(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	_ = e.Start(ctx)
	ok := closedLoop(workers, *closed, func() bool {
		_, err := e.Call(ctx, endpoint.Request{Body: body})
		return err == nil
	})
	_ = e.Stop(ctx)
	report("khive endpoint (adaptive)", ok, up)
	up.Close()

	up = khivetest.New()
	up.Enforce(*limit, *burst)
	client := &http.Client{}
	ok = closedLoop(workers, *closed, func() bool {
		for {
			req, _ := http.NewRequest(http.MethodPost, up.BaseURL()+"/chat/completions", bytes.NewReader(body))
			resp, err := client.Do(req)
			if err != nil {
				return false
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				return resp.StatusCode == http.StatusOK
			}
			ms, _ := strconv.Atoi(resp.Header.Get("retry-after-ms"))
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
	})
	report("plain client retrying on 429", ok, up)
	up.Close()
}

// closedLoop runs call from n workers for d and counts successes that
// finished within d.
func closedLoop(n int, d time.Duration, call func() bool) int64 {
	var ok atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if call() && time.Now().Before(deadline) {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return ok.Load()
}

func report(name string, ok int64, up *khivetest.Server) {
	rate := float64(ok) / closed.Seconds()
	allowed := (float64(*burst) + *limit*closed.Seconds()) / closed.Seconds()
	total, limited := up.Requests(), up.Limited()
	fmt.Printf("| %s | %.1f | %.1f %% | %d | %d (%.2f %%) |\n", name, rate, rate/allowed*100, total, limited, pct(limited, total))
}
