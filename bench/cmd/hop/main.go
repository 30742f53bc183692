// Command hop measures what one hop through the gateway costs against the
// physical floor: the gateway (`go build ./app`, its own process), a bare
// httputil.ReverseProxy (its own process: this binary re-run as one) and a
// direct call, against one loopback upstream (khivetest, in this process,
// with a fixed latency), open loop at each rate (every request sent at its
// scheduled time), in rounds that interleave the targets so that drift on
// the machine hits all of them alike. Per target and rate it reports, as
// medians of the rounds (a ratio or difference between two targets: the
// median of each round's own): CPU per request of the hop's process (its
// threads' run time from /proc, over the requests it served), p50 and p99 from each
// request's scheduled time, and allocations per request (the process's
// go_memstats_mallocs_total). The gateway runs once with the default
// config and once with each feature switched on alone (client keys on the
// memory store, keys on Redis, OTLP export to a loopback collector, the
// access log off), so each feature's cost is its own row; the floor runs
// once more with the gateway's connection timeouts ("ReverseProxy +
// timeouts"), which the bare one does not set.
//
//	cd bench && go run ./cmd/hop [-rates 1000,3000] [-duration 2s] [-rounds 5]
//
// Redis rows need redis-server on PATH (skipped otherwise).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/http/pprof"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/khive-go/khive/bench/internal/gatewayproc"
	"github.com/khive-go/khive/bench/internal/openloop"
	"github.com/khive-go/khive/bench/internal/stats"
	"github.com/khive-go/khive/khivetest"
)

// body is the chat request sent, with -body-bytes of earlier turns in it.
var body = `{"model":"up/gpt-4o-mini","messages":[{"role":"user","content":"hello there"}]}`

// withHistory is body with an earlier exchange of about n bytes before
// its message, as an agent's request carries its conversation.
func withHistory(n int) string {
	turn := strings.Repeat("earlier words of the conversation ", max(1, n/34))
	return `{"model":"up/gpt-4o-mini","messages":[{"role":"user","content":"` + turn + `"},` +
		`{"role":"assistant","content":"noted"},{"role":"user","content":"hello there"}]}`
}

// clientKey is the gateway's client key in the rows that configure keys.
const clientKey = "sk-khive-bench-client"

func main() {
	floorUpstream := flag.String("floor-upstream", "", "internal: run as the ReverseProxy floor to this upstream")
	floorListen := flag.String("floor-listen", "", "internal: the floor's listen address")
	floorTimeouts := flag.Bool("floor-timeouts", false, "internal: the floor with the gateway's connection timeouts")
	rates := flag.String("rates", "1000,3000", "requests per second")
	duration := flag.Duration("duration", 2*time.Second, "load per target, rate and round")
	rounds := flag.Int("rounds", 5, "rounds (targets interleaved in each)")
	upLatency := flag.Duration("upstream-latency", time.Millisecond, "the fake upstream's fixed latency")
	only := flag.String("only", "", "comma-separated target names to run (default all)")
	pprofAddr := flag.String("pprof", "", "serve the default gateway's profiles on this loopback address (KHIVE_PPROF); HOP_FLOOR_PPROF=ADDR does the same for the floor")
	gatewayEnv := flag.String("gateway-env", "", "comma-separated K=V for every gateway process (GOGC=200, say)")
	bodyBytes := flag.Int("body-bytes", 0, "earlier turns of about this many bytes in every request (agents send 10-100 KB)")
	verbose := flag.Bool("v", false, "print each round's CPU per request too")
	baselineBin := flag.String("baseline-bin", "", "a gateway binary built before (another revision's `go build -o PATH ./app`): adds the row \"khive baseline\", its default config, to compare builds in one run")
	flag.Parse()
	if *floorUpstream != "" {
		serveFloor(*floorUpstream, *floorListen, *floorTimeouts)
		return
	}
	if *bodyBytes > 0 {
		body = withHistory(*bodyBytes)
	}

	up := khivetest.New()
	defer up.Close()
	up.SetLatency(*upLatency)
	collector := otlpCollector()
	defer collector.Close()

	var extraEnv []string
	if *gatewayEnv != "" {
		extraEnv = strings.Split(*gatewayEnv, ",")
	}
	gw := func(name, extra string) *target { return startGateway(name, up.BaseURL(), extra, extraEnv...) }
	// The targets, each started only when selected.
	specs := []struct {
		name  string
		start func() *target
	}{
		{"direct", func() *target {
			return &target{name: "direct", url: up.BaseURL() + "/chat/completions", stop: func() {}}
		}},
		{"ReverseProxy (floor)", func() *target { return startFloor("ReverseProxy (floor)", up.URL) }},
		{"ReverseProxy + timeouts", func() *target { return startFloor("ReverseProxy + timeouts", up.URL, "-floor-timeouts") }},
		{"khive default", func() *target {
			env := extraEnv
			if *pprofAddr != "" {
				env = append(env, "KHIVE_PPROF="+*pprofAddr)
			}
			return startGateway("khive default", up.BaseURL(), "", env...)
		}},
		{"khive baseline", func() *target {
			if *baselineBin == "" {
				return nil
			}
			g := gatewayproc.StartBinary(*baselineBin, gatewayproc.UpstreamConfig(up.BaseURL(), ""), io.Discard, extraEnv...)
			return gatewayTarget("khive baseline", g)
		}},
		{"khive + keys (memory)", func() *target { return gw("khive + keys (memory)", keysConfig("")) }},
		{"khive + keys (redis)", func() *target {
			rs := startRedis()
			if rs == nil {
				log.Print("redis-server not on PATH: no Redis row")
				return nil
			}
			t := gw("khive + keys (redis)", keysConfig(fmt.Sprintf("  store: {type: redis, url: \"redis://%s\"}\n", rs.addr)))
			stopGateway := t.stop
			t.stop = func() { stopGateway(); rs.stop() }
			return t
		}},
		{"khive + OTLP export", func() *target {
			return gw("khive + OTLP export", fmt.Sprintf("  telemetry: {otlp_endpoint: \"http://%s\"}\n", collector.Listener.Addr()))
		}},
		{"khive without access log", func() *target { return gw("khive without access log", "  access_log: false\n") }},
	}
	var targets []*target
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	for _, sp := range specs {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), sp.name) {
			continue
		}
		if t := sp.start(); t != nil {
			targets = append(targets, t)
		}
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 10000, MaxIdleConnsPerHost: 10000, IdleConnTimeout: time.Minute}}
	fmt.Printf("upstream latency %v; requests of %d bytes; %d rounds of %v per target and rate, targets interleaved; medians of the rounds (ratios and differences: medians of each round's own)\n\n", *upLatency, len(body), *rounds, *duration)
	for _, rs := range strings.Split(*rates, ",") {
		rate, err := strconv.Atoi(rs)
		if err != nil {
			log.Fatalf("-rates: %v", err)
		}
		for _, t := range targets { // warm up: connections, JIT of nothing, the GC's pacing
			load(client, t, rate, time.Second)
		}
		results := map[*target][]round{}
		for i := range *rounds {
			// Each round starts at the next target, so none is always the
			// one run first (after the previous rate's, or after a pause).
			for j := range targets {
				t := targets[(i+j)%len(targets)]
				results[t] = append(results[t], load(client, t, rate, *duration))
			}
		}
		report(rate, targets, results)
		if *verbose {
			for _, t := range targets {
				fmt.Printf("%s, each round's CPU µs/request:", t.name)
				for _, r := range results[t] {
					fmt.Printf(" %.0f", float64(r.cpuPerReq)/float64(time.Microsecond))
				}
				fmt.Println()
			}
			fmt.Println()
		}
	}
}

// target is one thing the load goes to: a URL and, for a hop, its process.
type target struct {
	name    string
	url     string
	pid     int    // the hop's process; 0 for direct
	metrics string // its Prometheus endpoint, for allocations
	stop    func()
}

// round is one load's figures.
type round struct {
	cpuPerReq     time.Duration // 0 for direct
	p50, p99      time.Duration
	allocsPerReq  float64
	errors, total int
}

// load sends rate requests a second to t for d, open loop, and measures.
func load(client *http.Client, t *target, rate int, d time.Duration) round {
	cpu0, allocs0 := t.cpu(), t.allocs()
	lat, errs := openloop.Post(client, t.url, clientKey, body, rate, d)
	cpu1, allocs1 := t.cpu(), t.allocs()
	s := stats.Of(lat)
	r := round{p50: s.P50, p99: s.P99, errors: errs, total: len(lat)}
	if t.pid != 0 {
		r.cpuPerReq = (cpu1 - cpu0) / time.Duration(len(lat))
		r.allocsPerReq = (allocs1 - allocs0) / float64(len(lat))
	}
	return r
}

// cpu is the CPU the process's threads have run so far: the sum of each
// thread's time on a CPU from /proc/PID/task/*/schedstat (nanoseconds;
// /proc/PID/stat counts in 10 ms ticks, too coarse for a round). Go keeps
// its threads, so none of the time is lost with an exited one.
func (t *target) cpu() time.Duration {
	if t.pid == 0 {
		return 0
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", t.pid))
	if err != nil {
		log.Fatal(err)
	}
	var total time.Duration
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", t.pid, task.Name()))
		if err != nil {
			continue // the thread ended between the two reads
		}
		ns, _ := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
		total += time.Duration(ns)
	}
	return total
}

// allocs is the process's heap allocations so far.
func (t *target) allocs() float64 {
	if t.metrics == "" {
		return 0
	}
	resp, err := http.Get(t.metrics)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_mallocs_total "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return math.NaN() // a gateway without the Go collector (builds before 2026-12-01)
}

func report(rate int, targets []*target, results map[*target][]round) {
	med := func(t *target, f func(round) float64) float64 {
		var v []float64
		for _, r := range results[t] {
			v = append(v, f(r))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	// paired is the median over the rounds of f(t's round, u's round):
	// each round's targets ran one after the other, so a ratio or a
	// difference taken within the round cancels the machine's drift
	// between rounds, which medians taken apart do not.
	paired := func(t, u *target, f func(a, b round) float64) float64 {
		var v []float64
		for i := range results[t] {
			v = append(v, f(results[t][i], results[u][i]))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	cpu := func(r round) float64 { return float64(r.cpuPerReq) / float64(time.Microsecond) }
	p50 := func(r round) float64 { return float64(r.p50) / float64(time.Microsecond) }
	p99 := func(r round) float64 { return float64(r.p99) / float64(time.Microsecond) }
	var floor, def *target
	for _, t := range targets {
		switch t.name {
		case "ReverseProxy (floor)":
			floor = t
		case "khive default":
			def = t
		}
	}
	fmt.Printf("### %d requests/s\n\n", rate)
	fmt.Println("| target | CPU µs/request | ÷ floor | vs default | p50 | p99 | p99 ÷ floor | allocs/request | errors |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, t := range targets {
		c, q50, q99 := med(t, cpu), med(t, p50), med(t, p99)
		ratio, vsDefault, p99Ratio := "", "", ""
		if floor != nil && t.pid != 0 {
			ratio = fmt.Sprintf("%.2f×", paired(t, floor, func(a, b round) float64 { return cpu(a) / cpu(b) }))
		}
		if floor != nil {
			p99Ratio = fmt.Sprintf("%.2f×", paired(t, floor, func(a, b round) float64 { return p99(a) / p99(b) }))
		}
		if def != nil && t != def && strings.HasPrefix(t.name, "khive") {
			vsDefault = fmt.Sprintf("%+.0f µs", paired(t, def, func(a, b round) float64 { return cpu(a) - cpu(b) }))
		}
		var errs, total int
		for _, r := range results[t] {
			errs, total = errs+r.errors, total+r.total
		}
		cpuText := "—"
		allocText := "—"
		if t.pid != 0 {
			cpuText = fmt.Sprintf("%.0f", c)
			allocText = fmt.Sprintf("%.0f", med(t, func(r round) float64 { return r.allocsPerReq }))
		}
		fmt.Printf("| %s | %s | %s | %s | %.0f µs | %.0f µs | %s | %s | %d of %d |\n",
			t.name, cpuText, ratio, vsDefault, q50, q99, p99Ratio, allocText, errs, total)
	}
	fmt.Println()
}

// startGateway starts a gateway process whose config is the default's
// plus extra lines under gateway:, its access log discarded.
func startGateway(name, upstream, extra string, env ...string) *target {
	return gatewayTarget(name, gatewayproc.Start(gatewayproc.UpstreamConfig(upstream, extra), io.Discard, env...))
}

func gatewayTarget(name string, g *gatewayproc.Gateway) *target {
	return &target{name: name, url: "http://" + g.Addr + "/v1/chat/completions", pid: g.Pid(),
		metrics: "http://" + g.Addr + "/metrics", stop: sync.OnceFunc(g.Stop)}
}

// keysConfig is one client key with limits, and store lines.
func keysConfig(store string) string {
	// Limits far above the load, so that every request is admitted by the
	// store (a rate and a concurrency slot: on Redis, its round trips)
	// and none refused.
	return fmt.Sprintf("  keys: [{name: bench, key: %s, requests_per_minute: 100000000, tokens_per_minute: 1000000000, max_concurrency: 100000}]\n%s", clientKey, store)
}

// startFloor runs this binary as a bare ReverseProxy to upstream.
func startFloor(name, upstream string, args ...string) *target {
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	addr := gatewayproc.FreeAddr()
	cmd := exec.Command(self, append([]string{"-floor-upstream", upstream, "-floor-listen", addr}, args...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	gatewayproc.WaitReady("http://" + addr + "/metrics")
	return &target{name: name, url: "http://" + addr + "/v1/chat/completions", pid: cmd.Process.Pid,
		metrics: "http://" + addr + "/metrics", stop: sync.OnceFunc(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })}
}

// serveFloor is the floor: httputil.ReverseProxy with a transport sized
// like the gateway's, and the Go runtime's metrics at /metrics; with
// timeouts, the connection timeouts the gateway sets (a header deadline,
// an idle one, and on the upstream side a response-header timeout).
func serveFloor(upstream, listen string, timeouts bool) {
	u, err := url.Parse(upstream)
	if err != nil {
		log.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	tr := &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: 90 * time.Second}
	srv := &http.Server{Addr: listen}
	if timeouts {
		tr.ResponseHeaderTimeout = 2 * time.Minute
		srv.ReadHeaderTimeout, srv.IdleTimeout = 10*time.Second, 90*time.Second
	}
	rp.Transport = tr
	mux := http.NewServeMux()
	mux.Handle("/v1/", rp)
	mux.Handle("GET /metrics", promhttp.Handler())        // the Go runtime's metrics among them
	if addr := os.Getenv("HOP_FLOOR_PPROF"); addr != "" { // the floor's profiles, to set beside the gateway's
		go func() { log.Print(http.ListenAndServe(addr, pprofMux())) }()
	}
	srv.Handler = mux
	log.Fatal(srv.ListenAndServe())
}

// pprofMux serves net/http/pprof's handlers.
func pprofMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	return m
}

// otlpCollector accepts OTLP/HTTP exports and drops them (an empty
// protobuf message is a valid export response).
func otlpCollector() *httpServer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = s.Serve(l) }()
	return &httpServer{Server: s, Listener: l}
}

type httpServer struct {
	*http.Server
	Listener net.Listener
}

// redisServer is a redis-server on a free loopback port.
type redisServer struct {
	addr string
	stop func()
}

func startRedis() *redisServer {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil
	}
	addr := gatewayproc.FreeAddr()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &redisServer{addr: addr, stop: func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }}
}
