package khivetest

import (
	"net/http"
	"strconv"
	"time"
)

// Enforce makes the server a rate-limited provider: a token bucket of
// perSecond requests with burst; beyond it, 429 with retry-after-ms. Every
// answer carries the bucket's headers, in OpenAI's form and meaning unless
// SetHeaderStyle says otherwise.
func (s *Server) Enforce(perSecond float64, burst int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucket = &bucket{rate: perSecond, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// HeaderStyle is how Enforce's bucket reports itself.
type HeaderStyle int

const (
	// OpenAIStyle: x-ratelimit-{limit,remaining,reset}-requests, reset the
	// time until the bucket is full as a Go duration ("180ms").
	OpenAIStyle HeaderStyle = iota
	// AnthropicStyle: anthropic-ratelimit-requests-{limit,remaining,reset},
	// reset the RFC 3339 instant the bucket is full (with fractional
	// seconds: the fake's buckets refill in well under a second).
	AnthropicStyle
)

// SetHeaderStyle chooses the rate-limit headers Enforce's bucket sends.
func (s *Server) SetHeaderStyle(st HeaderStyle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.style = st
}

// Limited is the number of requests answered 429 by Enforce's bucket.
func (s *Server) Limited() int64 { return s.limited.Load() }

// bucket is Enforce's token bucket.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

// take spends a token, or says how long until one is there. level is what
// the bucket holds afterwards, fractions included.
func (b *bucket) take(now time.Time) (level float64, wait time.Duration, ok bool) {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return b.tokens, 0, true
	}
	return b.tokens, time.Duration((1 - b.tokens) / b.rate * float64(time.Second)), false
}

// admit applies Enforce's bucket: false means a 429 was written.
func (s *Server) admit(w http.ResponseWriter, fail func(http.ResponseWriter, int, string, string, map[string]string)) bool {
	now := time.Now()
	s.mu.Lock()
	b, style := s.bucket, s.style
	var level float64
	var wait time.Duration
	ok := true
	if b != nil {
		level, wait, ok = b.take(now)
	}
	s.mu.Unlock()
	if b == nil {
		return true
	}
	// remaining is the level rounded down, as providers report it; the
	// reset is when the bucket is really full again.
	toFull := time.Duration((b.burst - level) / b.rate * float64(time.Second))
	h := w.Header()
	limit, remaining := strconv.Itoa(int(b.burst)), strconv.Itoa(int(level))
	if style == AnthropicStyle {
		h.Set("anthropic-ratelimit-requests-limit", limit)
		h.Set("anthropic-ratelimit-requests-remaining", remaining)
		h.Set("anthropic-ratelimit-requests-reset", now.Add(toFull).UTC().Format(time.RFC3339Nano))
	} else {
		h.Set("x-ratelimit-limit-requests", limit)
		h.Set("x-ratelimit-remaining-requests", remaining)
		h.Set("x-ratelimit-reset-requests", toFull.String())
	}
	if ok {
		return true
	}
	s.limited.Add(1)
	fail(w, 429, "rate_limit_error", "Rate limit reached for requests", map[string]string{
		"retry-after-ms": strconv.FormatInt(wait.Milliseconds()+1, 10),
	})
	return false
}
