// Package ratelimit reads providers' rate-limit headers, each family in its
// own meaning, into executor.RateLimit: OpenAI's and Groq's
// x-ratelimit-*-{requests,tokens} (reset = time until the bucket is full),
// Anthropic's anthropic-ratelimit-* (reset = the instant it is full), the
// IETF RateLimit / RateLimit-Policy fields and the generic x-ratelimit-*,
// ratelimit-*, x-rate-limit-*, x-rl-* (fixed windows), and the retry hints
// retry-after-ms and retry-after. Providers' dialects choose the families
// they speak; Parse reads them all.
package ratelimit

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/khive-go/khive/executor"
)

// Anthropic's extra windows, beside Requests and Tokens.
const (
	requests kind = iota
	tokens
	inputTokens
	outputTokens
)

// kind is which window of a RateLimit a header family fills.
type kind int

// headerFamily names one window's three headers, canonicalised once.
type headerFamily struct {
	window                  kind
	limit, remaining, reset string
	parseReset              resetParser
	fixed                   bool
}

// headerFamilies in the order they are read: generic single-window headers
// first, so provider-specific ones win.
var headerFamilies = func() []headerFamily {
	var fs []headerFamily
	add := func(w kind, limit, remaining, reset string, p resetParser) {
		c := http.CanonicalHeaderKey
		fs = append(fs, headerFamily{w, c(limit), c(remaining), c(reset), p, false})
	}
	for _, p := range []string{"x-rl-", "ratelimit-", "x-rate-limit-", "x-ratelimit-"} {
		add(requests, p+"limit", p+"remaining", p+"reset", parseGenericReset)
		fs[len(fs)-1].fixed = true
	}
	for _, k := range []struct {
		w    kind
		name string
	}{{requests, "requests"}, {tokens, "tokens"}} {
		add(k.w, "x-ratelimit-limit-"+k.name, "x-ratelimit-remaining-"+k.name, "x-ratelimit-reset-"+k.name, parseDurationReset)
	}
	for _, k := range []struct {
		w    kind
		name string
	}{{requests, "requests"}, {tokens, "tokens"}, {inputTokens, "input-tokens"}, {outputTokens, "output-tokens"}} {
		p := "anthropic-ratelimit-" + k.name + "-"
		add(k.w, p+"limit", p+"remaining", p+"reset", parseTimeReset)
	}
	return fs
}()

// Parse reads rate-limit headers as of now. It understands
//
//   - OpenAI and Groq: x-ratelimit-{limit,remaining,reset}-{requests,tokens},
//     reset as a Go duration ("1s", "6m0s", "12ms", "1.5s");
//   - Anthropic: anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset},
//     reset as an RFC 3339 time;
//   - the generic x-ratelimit-*, x-rate-limit-*, ratelimit-* and x-rl-*
//     {limit,remaining,reset} (the requests window), reset as delta seconds or
//     epoch seconds, as fixed windows;
//   - the IETF RateLimit and RateLimit-Policy fields
//     (RateLimit: "default";r=50;t=30, RateLimit-Policy: "default";q=100;w=60),
//     as a fixed window of the requests; the policy with the least left wins;
//   - retry-after-ms (milliseconds) and retry-after (seconds or an HTTP date).
//
// Values it cannot read are left unknown; it never panics.
func Parse(h http.Header, now time.Time) executor.RateLimit {
	rl := executor.UnknownRateLimit()
	if len(h) == 0 {
		return rl
	}
	for _, f := range headerFamilies {
		dst := &rl.Requests
		switch f.window {
		case tokens:
			dst = &rl.Tokens
		case inputTokens:
			dst = &rl.InputTokens
		case outputTokens:
			dst = &rl.OutputTokens
		}
		w := readWindow(h, now, f.limit, f.remaining, f.reset, f.parseReset)
		w.Fixed = f.fixed && w.Known()
		mergeWindow(dst, w)
	}
	if w, ok := parseIETF(h); ok {
		mergeWindow(&rl.Requests, w)
	}
	rl.RetryAfter = parseRetryAfter(h, now)
	return rl
}

// RetryAfter returns the server's wait hint from retry-after-ms or
// retry-after, and whether there was one.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	d := parseRetryAfter(h, now)
	return d, d >= 0
}

func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("retry-after-ms"); v != "" {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ms >= 0 && ms < maxSeconds*1000 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := strings.TrimSpace(h.Get("retry-after")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			if s >= 0 && s < maxSeconds {
				return time.Duration(s * float64(time.Second))
			}
			return -1
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	return -1
}

// maxSeconds bounds any parsed wait (about 31 years) so conversions to
// time.Duration cannot overflow.
const maxSeconds = 1e9

// resetParser reads a reset header as of now: the time until it, and the
// instant when the header gave one (zero when it gave a duration).
type resetParser func(v string, now time.Time) (time.Duration, time.Time, bool)

func readWindow(h http.Header, now time.Time, limitKey, remainingKey, resetKey string, parseReset resetParser) executor.Window {
	w := executor.UnknownWindow
	if n, ok := parseCount(headerValue(h, limitKey)); ok {
		w.Limit = n
	}
	if n, ok := parseCount(headerValue(h, remainingKey)); ok {
		w.Remaining = n
	}
	if v := strings.TrimSpace(headerValue(h, resetKey)); v != "" {
		if d, at, ok := parseReset(v, now); ok {
			w.Reset, w.ResetAt = d, at
		}
	}
	return w
}

// headerValue reads an already canonical key without canonicalising again.
func headerValue(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func mergeWindow(dst *executor.Window, src executor.Window) {
	if src.Limit >= 0 {
		dst.Limit = src.Limit
	}
	if src.Remaining >= 0 {
		dst.Remaining = src.Remaining
	}
	if src.Reset >= 0 {
		dst.Reset, dst.ResetAt = src.Reset, src.ResetAt
	}
	if src.Known() {
		dst.Fixed = src.Fixed
	}
}

func parseCount(v string) (int64, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		// Some providers send "100.0".
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || f < 0 || f > math.MaxInt64/2 || f != math.Trunc(f) {
			return 0, false
		}
		return int64(f), true
	}
	return n, n >= 0
}

// parseDurationReset reads OpenAI's Go-style durations ("6m0s", "12ms"),
// accepting bare seconds too.
func parseDurationReset(v string, now time.Time) (time.Duration, time.Time, bool) {
	if d, err := time.ParseDuration(v); err == nil {
		return d, time.Time{}, d >= 0
	}
	return parseGenericReset(v, now)
}

// parseGenericReset reads delta seconds, or epoch seconds when the number is
// too large to be a delta.
func parseGenericReset(v string, now time.Time) (time.Duration, time.Time, bool) {
	s, err := strconv.ParseFloat(v, 64)
	if err != nil {
		if d, derr := time.ParseDuration(v); derr == nil && d >= 0 {
			return d, time.Time{}, true
		}
		return 0, time.Time{}, false
	}
	if s < 0 || math.IsNaN(s) || s > 1e12 {
		return 0, time.Time{}, false
	}
	if s >= epochThreshold {
		at := time.Unix(int64(s), 0).UTC()
		return max(at.Sub(now), 0), at, true
	}
	return time.Duration(s * float64(time.Second)), time.Time{}, true
}

// epochThreshold separates delta seconds from Unix timestamps: no window
// lasts 30 years, and no timestamp this century is that small.
const epochThreshold = 1e9

// parseTimeReset reads Anthropic's RFC 3339 reset times.
func parseTimeReset(v string, now time.Time) (time.Duration, time.Time, bool) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return 0, time.Time{}, false
	}
	return max(t.Sub(now), 0), t, true
}
