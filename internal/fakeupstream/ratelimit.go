package fakeupstream

import (
	"net/http"
	"strconv"
	"time"
)

// Enforce makes the server a rate-limited provider: a token bucket of
// perSecond requests with burst; beyond it, 429 with OpenAI's rate-limit
// headers and retry-after-ms. Every answer carries the headers.
func (s *Server) Enforce(perSecond float64, burst int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucket = &bucket{rate: perSecond, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// Limited is the number of requests answered 429 by Enforce's bucket.
func (s *Server) Limited() int64 { return s.limited.Load() }

// bucket is Enforce's token bucket.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

// take spends a token, or says how long until one is there.
func (b *bucket) take(now time.Time) (remaining int, wait time.Duration, ok bool) {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return int(b.tokens), 0, true
	}
	return 0, time.Duration((1 - b.tokens) / b.rate * float64(time.Second)), false
}

// admit applies Enforce's bucket: false means a 429 was written.
func (s *Server) admit(w http.ResponseWriter, fail func(http.ResponseWriter, int, string, string, map[string]string)) bool {
	s.mu.Lock()
	b := s.bucket
	var remaining int
	var wait time.Duration
	ok := true
	if b != nil {
		remaining, wait, ok = b.take(time.Now())
	}
	s.mu.Unlock()
	if b == nil {
		return true
	}
	h := w.Header()
	h.Set("x-ratelimit-limit-requests", strconv.Itoa(int(b.burst)))
	h.Set("x-ratelimit-remaining-requests", strconv.Itoa(remaining))
	h.Set("x-ratelimit-reset-requests", (time.Duration((b.burst - float64(remaining)) / b.rate * float64(time.Second))).String())
	if ok {
		return true
	}
	s.limited.Add(1)
	fail(w, 429, "rate_limit_error", "Rate limit reached for requests", map[string]string{
		"retry-after-ms": strconv.FormatInt(wait.Milliseconds()+1, 10),
	})
	return false
}
