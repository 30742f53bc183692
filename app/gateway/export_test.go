package gateway

import (
	"context"
	"time"
)

// AdmitTimed runs one admission of k's request through the store (and
// gives the slot back), returning how long the decision took and whether
// it admitted.
func (s *Store) AdmitTimed(ctx context.Context, k *TestKey) (time.Duration, bool) {
	start := time.Now()
	leave, aerr := s.enter(ctx, k.k, start, 0)
	d := time.Since(start)
	if aerr == nil {
		leave()
	}
	return d, aerr == nil
}

// TestKey is a configured key at run time, for tests outside the package.
type TestKey struct{ k *clientKey }

// NewTestKey builds the run-time form of c.
func NewTestKey(c ClientKey) *TestKey { return &TestKey{newClientKeys([]ClientKey{c})[0]} }
