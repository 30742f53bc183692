package endpoint_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
)

// allocated runs f and returns the bytes the process allocated meanwhile:
// a bound on what reading an upstream's answer held.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func hostileEndpoint(t *testing.T, up *khivetest.Server, read endpoint.ReadLimits) *endpoint.Endpoint {
	t.Helper()
	cfg := endpoint.Config{Name: "hostile", Provider: "openai", BaseURL: up.BaseURL(), Path: "chat/completions",
		APIKey: endpoint.NewSecret(testKey), Read: read,
		Retry: endpoint.RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}}
	return start(t, cfg)
}

var hostileBody = map[string]any{"model": "m", "messages": []any{map[string]any{"role": "user", "content": "hi"}}}

// Every read from an upstream is bounded: a non-stream answer, an error
// body and a stream's event each stop at their cap, counted after
// decompression, and what the process allocates stays near the cap
// whatever the upstream sends.
func TestHostileAnswersAreReadWithinTheirCaps(t *testing.T) {
	const mib = 1 << 20
	t.Run("gzip bomb on a 200", func(t *testing.T) {
		up := khivetest.New()
		defer up.Close()
		up.Always(khivetest.Fault{Kind: khivetest.GzipBomb, Size: 256 * mib})
		e := hostileEndpoint(t, up, endpoint.ReadLimits{MaxBodyBytes: mib})
		var err error
		n := allocated(func() { _, err = e.Call(context.Background(), endpoint.Request{Body: hostileBody}) })
		var rle *endpoint.ReadLimitError
		require.ErrorAs(t, err, &rle)
		assert.Equal(t, endpoint.ReadLimitError{Endpoint: "hostile", What: "answer", Limit: mib}, *rle)
		assert.ErrorIs(t, err, endpoint.ErrTooLarge)
		assert.Equal(t, int64(1), up.Requests(), "not retried: the upstream would send the same")
		assert.Less(t, n, uint64(16*mib), "256 MiB inflated: the process allocated %d bytes", n)
	})
	t.Run("gzip bomb on a 500, three attempts", func(t *testing.T) {
		up := khivetest.New()
		defer up.Close()
		up.Always(khivetest.Fault{Kind: khivetest.GzipBomb, Status: 500, Size: 256 * mib})
		e := hostileEndpoint(t, up, endpoint.ReadLimits{})
		var err error
		n := allocated(func() { _, err = e.Call(context.Background(), endpoint.Request{Body: hostileBody}) })
		var se *endpoint.StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 500, se.Status)
		assert.Equal(t, 3, se.Attempts)
		assert.LessOrEqual(t, len(se.Body), 4<<10)
		assert.Less(t, n, uint64(16*mib), "3 × 256 MiB inflated: the process allocated %d bytes", n)
	})
	for _, tt := range []struct {
		name  string
		fault khivetest.Fault
	}{
		{"an endless line", khivetest.Fault{Kind: khivetest.EndlessLine}},
		{"an endless event", khivetest.Fault{Kind: khivetest.EndlessEvent}},
		{"a 100 MiB line", khivetest.Fault{Kind: khivetest.HugeLine, Size: 100 * mib}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := khivetest.New()
			defer up.Close()
			up.Always(tt.fault)
			e := hostileEndpoint(t, up, endpoint.ReadLimits{MaxEventBytes: 256 << 10})
			var err error
			n := allocated(func() {
				s, serr := e.Stream(context.Background(), endpoint.Request{Body: hostileBody})
				require.NoError(t, serr)
				defer s.Close()
				for s.Next() {
				}
				err = s.Err()
			})
			var rle *endpoint.ReadLimitError
			require.ErrorAs(t, err, &rle)
			assert.Equal(t, endpoint.ReadLimitError{Endpoint: "hostile", What: "event", Limit: 256 << 10}, *rle)
			assert.Less(t, n, uint64(8*mib), "the process allocated %d bytes", n)
			assert.Zero(t, e.Stats().Running, "the stream's slot is free")
		})
	}
}
