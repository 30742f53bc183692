//go:build race

package gateway_test

// raceEnabled says the race detector instruments this test binary (and the
// helper processes it re-executes), which slows them several times over.
const raceEnabled = true
