package endpoint

import (
	"net"
	"net/http"
	"time"
)

// newHTTPClient builds the endpoint's own client. With no base round
// tripper, it gets its own *http.Transport (a clone of the default:
// keep-alive on, idle pool sized to the endpoint's concurrency, TLS handshake
// and response-header timeouts set, at most MaxConcurrency connections), so closing it touches no one else.
func newHTTPClient(cfg Config, base http.RoundTripper) *http.Client {
	if base != nil {
		return &http.Client{Transport: base}
	}
	t := defaultTransport()
	idle := cfg.Limits.MaxConcurrency
	if idle == 0 {
		idle = 100
	} else {
		// A call can finish before its connection is back in the idle pool;
		// the cap makes the next call wait for it instead of dialling.
		t.MaxConnsPerHost = idle
	}
	t.MaxIdleConns = idle
	t.MaxIdleConnsPerHost = idle
	t.DisableKeepAlives = false
	t.TLSHandshakeTimeout = min(10*time.Second, cfg.Timeout)
	t.ResponseHeaderTimeout = cfg.Timeout
	t.DialContext = (&net.Dialer{Timeout: min(30*time.Second, cfg.Timeout), KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{Transport: t}
}

// defaultTransport is a clone of http.DefaultTransport, or, when an
// application has replaced it with a wrapper (tracing and recording
// libraries do), a transport of the same settings as net/http's default.
func defaultTransport() *http.Transport {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
}
