package gateway_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// assertLatency checks a latency bound only without the race detector,
// which slows both processes several times over: .ci/run runs the tests
// that use it again without -race, where the bound holds with a margin
// (the probes take 5-30 ms there). Under -race the property asserted is
// the answer itself: served, and not refused.
func assertLatency(t *testing.T, took, bound time.Duration, what string) {
	t.Helper()
	if !raceEnabled {
		assert.Less(t, took, bound, what)
	}
}
