// Package redistest runs a real redis-server for tests, on a free loopback
// port, and a loopback TCP proxy in front of it that a test can stall.
// .ci/run installs redis-server and sets KHIVE_REQUIRE_REDIS, which makes
// its absence a failure; elsewhere tests that need it are skipped.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Available reports whether a test may use a redis-server: it is
// installed, or required (then Start fails the test without it).
func Available() bool {
	_, err := exec.LookPath("redis-server")
	return err == nil || os.Getenv("KHIVE_REQUIRE_REDIS") != ""
}

// Server is a redis-server process, killed when the test ends.
type Server struct {
	t    testing.TB
	bin  string
	Port int
	cmd  *exec.Cmd
	dir  string // where it persists, "" for not at all
}

// Start runs a redis-server on a free loopback port (DEBUG enabled for
// loopback clients, no persistence).
func Start(t testing.TB) *Server { return start(t, "") }

// StartPersistent is Start with every write appended to a file in a
// temporary directory and synced (appendfsync always): a Restart after
// Kill finds what was written.
func StartPersistent(t testing.TB) *Server { return start(t, t.TempDir()) }

func start(t testing.TB, dir string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("KHIVE_REQUIRE_REDIS") != "" {
			t.Fatal("redis-server not found (apt-get install redis-server)")
		}
		t.Skip("redis-server not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s := &Server{t: t, bin: bin, Port: port, dir: dir}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Client is a client of the server, closed with the test.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Restart starts the process again after Kill (empty: no persistence),
// and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	args := []string{"--port", fmt.Sprint(s.Port), "--bind", "127.0.0.1", "--save", "", "--enable-debug-command", "local"}
	if s.dir != "" {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always", "--dir", s.dir)
	} else {
		args = append(args, "--appendonly", "no")
	}
	s.cmd = exec.Command(s.bin, args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			s.t.Fatal("redis-server did not answer within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill stops the process at once.
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// Proxy forwards loopback TCP connections to a server; while stalled it
// holds what it has read in both directions and delivers it when resumed,
// as a congested or paused network would: commands a client gave up on
// still reach the server, late.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	stalled bool
	resumed *sync.Cond
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// NewProxy listens on a free loopback port in front of target, closed with
// the test.
func NewProxy(t testing.TB, target string) *Proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.resumed = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is where clients connect.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Stall holds every byte from now on until Resume.
func (p *Proxy) Stall() {
	p.mu.Lock()
	p.stalled = true
	p.mu.Unlock()
}

// Resume delivers what was held and forwards again.
func (p *Proxy) Resume() {
	p.mu.Lock()
	p.stalled = false
	p.resumed.Broadcast()
	p.mu.Unlock()
}

// Close stops listening, closes every connection and waits for the pumps.
func (p *Proxy) Close() {
	_ = p.ln.Close()
	p.Resume()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pump(up, c)
		go p.pump(c, up)
	}
}

// pump copies from src to dst, waiting out stalls before each write; at
// src's end it closes dst's write side after delivering what it read.
func (p *Proxy) pump(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.stalled {
				p.resumed.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil { // io.EOF, or the connection closed
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	p.mu.Lock()
	delete(p.conns, src)
	p.mu.Unlock()
	_ = src.Close()
}
