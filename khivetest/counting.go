package khivetest

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// Counting is a RoundTripper that counts the requests open through it,
// from RoundTrip until the response body is closed (or the round trip
// fails), and the most that were open at once: what a client let out, as
// the server cannot see it (a server's handler may still be returning when
// its client has read the answer and sent the next request). Give it to
// the client under test, e.g. endpoint.WithRoundTripper(&khivetest.Counting{}).
type Counting struct {
	// Base sends the requests; nil means a transport of its own.
	Base http.RoundTripper

	once       sync.Once
	open, peak atomic.Int64
}

// Open is the number of requests open now.
func (c *Counting) Open() int64 { return c.open.Load() }

// Peak is the most requests that were open at once.
func (c *Counting) Peak() int64 { return c.peak.Load() }

func (c *Counting) RoundTrip(req *http.Request) (*http.Response, error) {
	c.once.Do(func() {
		if c.Base == nil {
			c.Base = http.DefaultTransport.(*http.Transport).Clone()
		}
	})
	for n := c.open.Add(1); ; {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	resp, err := c.Base.RoundTrip(req)
	if err != nil {
		c.open.Add(-1)
		return nil, err
	}
	resp.Body = &countedBody{ReadCloser: resp.Body, c: c}
	return resp, nil
}

// CloseIdleConnections closes Base's idle connections.
func (c *Counting) CloseIdleConnections() {
	if ci, ok := c.Base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

type countedBody struct {
	io.ReadCloser
	c    *Counting
	once sync.Once
}

func (b *countedBody) Close() error {
	b.once.Do(func() { b.c.open.Add(-1) })
	return b.ReadCloser.Close()
}
