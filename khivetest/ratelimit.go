package khivetest

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Enforce makes the server a rate-limited provider: a token bucket of
// perSecond requests with burst; beyond it, 429 with retry-after-ms. Every
// answer carries the bucket's headers, in OpenAI's form and meaning unless
// SetHeaderStyle says otherwise.
func (s *Server) Enforce(perSecond float64, burst int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucket = NewBucket(perSecond, burst, time.Now())
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

// Bucket is a provider's request bucket, as Enforce applies it: a token
// bucket of perSecond with burst, answering each request with the
// provider's rate-limit headers. Code that stands in for a provider without
// HTTP (a simulation in fake time, say) takes its answers from one. Safe
// for concurrent use.
type Bucket struct {
	mu                  sync.Mutex
	rate, burst, tokens float64
	last                time.Time
}

// NewBucket is a full bucket as of now.
func NewBucket(perSecond float64, burst int, now time.Time) *Bucket {
	return &Bucket{rate: perSecond, burst: float64(burst), tokens: float64(burst), last: now}
}

// Take spends one request at now and sets the bucket's headers in style on
// h: remaining is the level rounded down, as providers report it, and the
// reset is when the bucket is really full again. Refused (false), h also
// carries retry-after-ms: when one request is there again.
func (b *Bucket) Take(now time.Time, style HeaderStyle, h http.Header) bool {
	b.mu.Lock()
	b.tokens = min(b.burst, b.tokens+max(now.Sub(b.last).Seconds(), 0)*b.rate)
	b.last = now
	ok := b.tokens >= 1
	if ok {
		b.tokens--
	}
	level := b.tokens
	b.mu.Unlock()
	toFull := time.Duration((b.burst - level) / b.rate * float64(time.Second))
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
	if !ok {
		wait := time.Duration((1 - level) / b.rate * float64(time.Second))
		h.Set("retry-after-ms", strconv.FormatInt(wait.Milliseconds()+1, 10))
	}
	return ok
}

// admit applies Enforce's bucket: false means a 429 was written.
func (s *Server) admit(w http.ResponseWriter, fail func(http.ResponseWriter, int, string, string, map[string]string)) bool {
	s.mu.Lock()
	b, style := s.bucket, s.style
	s.mu.Unlock()
	if b == nil || b.Take(time.Now(), style, w.Header()) {
		return true
	}
	s.limited.Add(1)
	fail(w, 429, "rate_limit_error", "Rate limit reached for requests", nil)
	return false
}
