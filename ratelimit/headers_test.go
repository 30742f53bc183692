package ratelimit_test

import (
	"bufio"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/ratelimit"
)

var unknown = executor.Window{Limit: -1, Remaining: -1, Reset: -1}

func headerOf(lines ...string) http.Header {
	h := http.Header{}
	for _, l := range lines {
		k, v, _ := strings.Cut(l, ":")
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return h
}

func TestParseRateLimit(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		h    http.Header
		want executor.RateLimit
	}{
		{"empty", nil, executor.RateLimit{Requests: unknown, Tokens: unknown, InputTokens: unknown, OutputTokens: unknown, RetryAfter: -1}},
		{"openai", headerOf(
			"x-ratelimit-limit-requests: 10000", "x-ratelimit-remaining-requests: 9999", "x-ratelimit-reset-requests: 6ms",
			"x-ratelimit-limit-tokens: 2000000", "x-ratelimit-remaining-tokens: 1999000", "x-ratelimit-reset-tokens: 6m0s"),
			executor.RateLimit{
				Requests:    executor.Window{Limit: 10000, Remaining: 9999, Reset: 6 * time.Millisecond},
				Tokens:      executor.Window{Limit: 2000000, Remaining: 1999000, Reset: 6 * time.Minute},
				InputTokens: unknown, OutputTokens: unknown, RetryAfter: -1,
			}},
		{"groq fractional durations", headerOf("x-ratelimit-remaining-requests: 14370", "x-ratelimit-reset-requests: 2m59.56s", "x-ratelimit-reset-tokens: 1.5s"),
			executor.RateLimit{
				Requests:    executor.Window{Limit: -1, Remaining: 14370, Reset: 2*time.Minute + 59560*time.Millisecond},
				Tokens:      executor.Window{Limit: -1, Remaining: -1, Reset: 1500 * time.Millisecond},
				InputTokens: unknown, OutputTokens: unknown, RetryAfter: -1,
			}},
		{"anthropic", headerOf(
			"anthropic-ratelimit-requests-limit: 50", "anthropic-ratelimit-requests-remaining: 49", "anthropic-ratelimit-requests-reset: 2026-11-26T12:00:30Z",
			"anthropic-ratelimit-tokens-remaining: 70000", "anthropic-ratelimit-input-tokens-remaining: 40000",
			"anthropic-ratelimit-output-tokens-reset: 2026-11-26T12:01:00Z", "retry-after: 7"),
			executor.RateLimit{
				Requests:     executor.Window{Limit: 50, Remaining: 49, Reset: 30 * time.Second, ResetAt: now.Add(30 * time.Second)},
				Tokens:       executor.Window{Limit: -1, Remaining: 70000, Reset: -1},
				InputTokens:  executor.Window{Limit: -1, Remaining: 40000, Reset: -1},
				OutputTokens: executor.Window{Limit: -1, Remaining: -1, Reset: time.Minute, ResetAt: now.Add(time.Minute)},
				RetryAfter:   7 * time.Second,
			}},
		{"ietf ratelimit delta", headerOf("ratelimit-limit: 100", "ratelimit-remaining: 3", "ratelimit-reset: 12"),
			executor.RateLimit{Requests: executor.Window{Limit: 100, Remaining: 3, Reset: 12 * time.Second, Fixed: true},
				Tokens: unknown, InputTokens: unknown, OutputTokens: unknown, RetryAfter: -1}},
		{"x-rate-limit epoch", headerOf("x-rate-limit-limit: 60", "x-rate-limit-remaining: 0", "x-rate-limit-reset: 1795694430"),
			executor.RateLimit{Requests: executor.Window{Limit: 60, Remaining: 0, Reset: 30 * time.Second, ResetAt: time.Unix(1795694430, 0).UTC(), Fixed: true},
				Tokens: unknown, InputTokens: unknown, OutputTokens: unknown, RetryAfter: -1}},
		{"x-rl and x-ratelimit generic", headerOf("x-rl-remaining: 5", "x-ratelimit-limit: 9", "x-ratelimit-reset: 0.25"),
			executor.RateLimit{Requests: executor.Window{Limit: 9, Remaining: 5, Reset: 250 * time.Millisecond, Fixed: true},
				Tokens: unknown, InputTokens: unknown, OutputTokens: unknown, RetryAfter: -1}},
		{"epoch in the past is zero", headerOf("x-ratelimit-reset: 1700000000"),
			executor.RateLimit{Requests: executor.Window{Limit: -1, Remaining: -1, Reset: 0, ResetAt: time.Unix(1700000000, 0).UTC(), Fixed: true},
				Tokens: unknown, InputTokens: unknown, OutputTokens: unknown, RetryAfter: -1}},
		{"ietf structured fields, least left wins", headerOf(`ratelimit: "minute";r=50;t=30, "day";r=7;t=3600`, `ratelimit-policy: "minute";q=100;w=60, "day";q=1000;w=86400`),
			executor.RateLimit{Requests: executor.Window{Limit: 1000, Remaining: 7, Reset: time.Hour, Fixed: true},
				Tokens: unknown, InputTokens: unknown, OutputTokens: unknown, RetryAfter: -1}},
		{"ietf garbage ignored", headerOf(`ratelimit: "x";r=-1;t=zz`, `ratelimit-policy: nonsense`),
			executor.RateLimit{Requests: unknown, Tokens: unknown, InputTokens: unknown, OutputTokens: unknown, RetryAfter: -1}},
		{"retry-after-ms wins", headerOf("retry-after-ms: 250.5", "retry-after: 9"),
			executor.RateLimit{Requests: unknown, Tokens: unknown, InputTokens: unknown, OutputTokens: unknown,
				RetryAfter: 250*time.Millisecond + 500*time.Microsecond}},
		{"retry-after http date", headerOf("retry-after: Thu, 26 Nov 2026 12:00:45 GMT"),
			executor.RateLimit{Requests: unknown, Tokens: unknown, InputTokens: unknown, OutputTokens: unknown, RetryAfter: 45 * time.Second}},
		{"garbage ignored", headerOf(
			"x-ratelimit-remaining-requests: lots", "x-ratelimit-reset-requests: soon", "x-ratelimit-limit-tokens: -5",
			"anthropic-ratelimit-requests-reset: tomorrow", "retry-after: -3", "retry-after-ms: NaN", "ratelimit-reset: 1e300",
			"x-ratelimit-remaining-tokens: 1.5"),
			executor.RateLimit{Requests: unknown, Tokens: unknown, InputTokens: unknown, OutputTokens: unknown, RetryAfter: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ratelimit.Parse(tt.h, now))
		})
	}
}

func TestWindowHelpers(t *testing.T) {
	assert.False(t, unknown.Known())
	assert.False(t, unknown.Exhausted())
	w := executor.Window{Limit: -1, Remaining: 0, Reset: -1}
	assert.True(t, w.Known())
	assert.True(t, w.Exhausted())
	d, ok := ratelimit.RetryAfter(headerOf("retry-after: 3"), time.Now())
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)
	_, ok = ratelimit.RetryAfter(http.Header{}, time.Now())
	assert.False(t, ok)
}

// FuzzParse feeds raw header blocks; seeds live in
// testdata/fuzz/FuzzParse. Whatever the input, parsing must not
// panic and must yield either unknown (-1) or sane values.
func FuzzParse(f *testing.F) {
	f.Add("x-ratelimit-reset-requests: 6m0s\r\nx-ratelimit-remaining-requests: 1\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		r := textproto.NewReader(bufio.NewReader(strings.NewReader(raw + "\r\n\r\n")))
		mh, _ := r.ReadMIMEHeader()
		rl := ratelimit.Parse(http.Header(mh), time.Unix(1795694400, 0))
		for _, w := range []executor.Window{rl.Requests, rl.Tokens, rl.InputTokens, rl.OutputTokens} {
			if w.Limit < -1 || w.Remaining < -1 || w.Reset < -1 {
				t.Fatalf("negative value other than unknown: %+v", w)
			}
		}
		if rl.RetryAfter < -1 {
			t.Fatalf("retry-after %v", rl.RetryAfter)
		}
	})
}
