// Package gatewayproc builds the gateway (`go build ./app`) and runs it as
// its own process for the benchmarks that measure it from outside.
package gatewayproc

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Gateway is a running gateway process.
type Gateway struct {
	Addr string
	cmd  *exec.Cmd
	dir  string
}

// Start builds the gateway, writes config (YAML) beside it and starts it
// listening on a free loopback port, its log to logTo, with extra
// environment variables; it returns once /readyz answers 200.
func Start(config string, logTo io.Writer, env ...string) *Gateway {
	return StartBinary("", config, logTo, env...)
}

// StartBinary is Start with a gateway binary built before (another
// revision's, to compare builds in one run); "" builds ./app.
func StartBinary(bin, config string, logTo io.Writer, env ...string) *Gateway {
	dir, err := os.MkdirTemp("", "khive-bench")
	if err != nil {
		log.Fatal(err)
	}
	if bin == "" {
		bin = filepath.Join(dir, "gateway")
		build := exec.Command("go", "build", "-o", bin, "./app")
		build.Dir = ".."
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			log.Fatal("build the gateway: ", err)
		}
	}
	cfgPath := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		log.Fatal(err)
	}
	g := &Gateway{Addr: FreeAddr(), dir: dir}
	g.cmd = exec.Command(bin, "-config", cfgPath, "-listen", g.Addr)
	g.cmd.Stderr = logTo
	g.cmd.Env = append(os.Environ(), env...)
	if err := g.cmd.Start(); err != nil {
		log.Fatal(err)
	}
	WaitReady("http://" + g.Addr + "/readyz")
	return g
}

// UpstreamConfig is the benchmarks' gateway config: one chat endpoint "up"
// at baseURL, its limits out of the way, no model-list refreshes, and
// extra lines under gateway: (each indented by two spaces).
func UpstreamConfig(baseURL, extra string) string {
	return fmt.Sprintf(`
endpoints:
  up:
    provider: openai
    endpoint: chat
    base_url: %s
    api_key: sk-bench
    limits: {max_concurrency: 4096, queue_size: 4096}
gateway:
  models_refresh: -1s
%s`, baseURL, extra)
}

// Stop interrupts the gateway, waits for it and removes its files.
func (g *Gateway) Stop() {
	_ = g.cmd.Process.Signal(os.Interrupt)
	_ = g.cmd.Wait()
	_ = os.RemoveAll(g.dir)
}

// Pid is the gateway's process id.
func (g *Gateway) Pid() int { return g.cmd.Process.Pid }

// PeakRSS is the process's peak resident set (VmHWM), as /proc prints it.
func (g *Gateway) PeakRSS() string { return procField(g.Pid(), "VmHWM:") }

// RSSKiB is the process's resident set now, in KiB; -1 when unknown.
func (g *Gateway) RSSKiB() int64 {
	v, _ := strings.CutSuffix(procField(g.Pid(), "VmRSS:"), " kB")
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func procField(pid int, name string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// FreeAddr is a loopback address with a free port.
func FreeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// WaitReady waits, 10 s at most, for url to answer 200.
func WaitReady(url string) {
	for range 200 {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Fatalf("%s did not become ready", url)
}
