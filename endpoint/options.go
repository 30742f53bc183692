package endpoint

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/khive-go/khive/executor"
)

// Option configures an Endpoint beyond its Config.
type Option interface {
	apply(*Endpoint)
}

type optionFunc func(*Endpoint)

func (f optionFunc) apply(e *Endpoint) { f(e) }

// WithLogger logs lifecycle at Debug, breaker changes at Warn and close
// failures at Error to l, named "endpoint". Without it nothing is logged;
// errors are still returned.
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(e *Endpoint) {
		if l != nil {
			e.log, e.logSet = l.Named("endpoint"), true
		}
	})
}

// WithRoundTripper makes the endpoint's HTTP client use rt instead of its
// own transport. Stop still calls CloseIdleConnections on the client, which
// reaches rt when rt has that method.
func WithRoundTripper(rt http.RoundTripper) Option {
	return optionFunc(func(e *Endpoint) { e.baseRT = rt })
}

// WithDialect sets what the endpoint knows of its provider's wire format
// (the providers package gives each endpoint its family's); without it,
// GenericDialect.
func WithDialect(d Dialect) Option {
	return optionFunc(func(e *Endpoint) {
		if d != nil {
			e.dialect = d
		}
	})
}

// WithSDK plugs in an SDK for transport "sdk".
func WithSDK(f SDKFactory) Option {
	return optionFunc(func(e *Endpoint) { e.sdkFactory = f })
}

// withRand replaces the jitter source (tests).
func withRand(f func() float64) Option {
	return optionFunc(func(e *Endpoint) { e.rnd = f })
}

// withSleep replaces the retry wait (tests record waits instead of sleeping).
func withSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return optionFunc(func(e *Endpoint) { e.sleep = f })
}

// WithSharedLimiter makes every attempt wait on l too: a limit shared with
// other processes calling the same provider (the gateway's Redis store
// gives one per endpoint with configured rates).
func WithSharedLimiter(l executor.SharedLimiter) Option {
	return optionFunc(func(e *Endpoint) { e.shared = l })
}
