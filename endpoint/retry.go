package endpoint

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/khive-go/khive/executor"
)

// shouldRetryStatus applies x-should-retry over the dialect's rule.
func shouldRetryStatus(d Dialect, status int, h http.Header) bool {
	switch strings.ToLower(h.Get("x-should-retry")) {
	case "true":
		return true
	case "false":
		return false
	}
	return d.Retryable(status)
}

// retryableError reports whether a transport error is worth another attempt.
// Like the official SDKs, every connection-level failure is (refused, reset,
// EOF before the response, TLS, the attempt's own timeout); the caller's
// cancellation is not.
func retryableError(callerCtx context.Context, err error) bool {
	return err != nil && callerCtx.Err() == nil && !badAnswer(err)
}

// badAnswer is an answer the upstream did send, in a shape no retry
// would change: over a read limit, or not the stream asked for.
func badAnswer(err error) bool {
	return errors.Is(err, ErrTooLarge) || errors.Is(err, ErrNotAStream)
}

// serverHint is the wait a response asks for: retry-after-ms, retry-after,
// and, on 429, the reset of the exhausted rate-limit window.
func serverHint(d Dialect, status int, h http.Header, now time.Time) (time.Duration, bool) {
	rl := d.RateLimit(h, now)
	if rl.RetryAfter >= 0 {
		return rl.RetryAfter, true
	}
	if status != http.StatusTooManyRequests {
		return 0, false
	}
	var hint time.Duration
	found := false
	for _, w := range []executor.Window{rl.Requests, rl.Tokens, rl.InputTokens, rl.OutputTokens} {
		if w.Exhausted() && w.Reset >= 0 {
			hint, found = max(hint, w.Reset), true
		}
	}
	return hint, found
}

// backoff is full jitter: uniform in [0, min(maxDelay, base·2^retry)].
func backoff(cfg RetryConfig, retry int, rnd func() float64) time.Duration {
	ceil := cfg.MaxDelay
	if retry < 30 {
		ceil = min(cfg.MaxDelay, cfg.BaseDelay<<retry)
	}
	return time.Duration(rnd() * float64(ceil))
}

func defaultRand() float64 { return rand.Float64() }
