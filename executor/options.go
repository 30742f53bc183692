package executor

import "go.uber.org/zap"

// Option configures a Pool beyond its Config.
type Option interface {
	apply(*Pool)
}

type optionFunc func(*Pool)

func (f optionFunc) apply(p *Pool) { f(p) }

// WithLogger logs lifecycle events at Debug and stop failures at Error to
// l, named "executor". Without it the pool logs nothing; Stop still returns
// its error.
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(p *Pool) {
		if l != nil {
			p.log = l.Named("executor")
		}
	})
}

// WithKeyedLimiter makes tasks submitted with Key(k) wait on k's limiter.
func WithKeyedLimiter(k *KeyedLimiter) Option {
	return optionFunc(func(p *Pool) {
		if k != nil {
			p.gates = append(p.gates, k)
		}
	})
}

// WithAdaptiveLimiter makes every task wait on a, which learns the
// provider's bucket from the answers fed to Lease.Observe (or to a.Observe).
// Give one per window to follow requests and tokens. When given, a Config
// with Adaptive set builds no limiters of its own (see
// Limits.AdaptiveLimiters).
func WithAdaptiveLimiter(a *AdaptiveLimiter) Option {
	return optionFunc(func(p *Pool) {
		if a != nil {
			p.gates = append(p.gates, a)
			p.adaptiveGiven = true
		}
	})
}
