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
	t := http.DefaultTransport.(*http.Transport).Clone()
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
