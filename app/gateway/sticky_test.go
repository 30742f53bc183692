package gateway_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/khivetest"
)

func TestStickyAliasKeepsASessionOnOneTarget(t *testing.T) {
	e := newEnv(t, func(_ *khive.Config, g *gateway.Config) { g.Sticky = []string{"fast"} })
	body := `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`
	served := func(header, session string) string {
		status, h, b := e.post("/v1/chat/completions", body, header, session)
		require.Equal(t, http.StatusOK, status, b)
		return h.Get("X-Khive-Endpoint")
	}
	// Sessions spread over both targets, each keeping to its own.
	seen := map[string]int{}
	for i := range 20 {
		s := fmt.Sprintf("session-%d", i)
		first := served("X-Claude-Code-Session-Id", s)
		seen[first]++
		for range 3 {
			assert.Equal(t, first, served("X-Claude-Code-Session-Id", s), "session %s stays on %s", s, first)
		}
		assert.Equal(t, first, served("Session-Id", s), "Codex's header picks the same target")
	}
	assert.Equal(t, 2, len(seen), "sessions went to both targets: %v", seen)

	// Without a session: the alias's order.
	status, h, _ := e.post("/v1/chat/completions", body, "Authorization", "Bearer "+clientKey)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "up", h.Get("X-Khive-Endpoint"))

	// A session's target failing falls back to the other.
	var onOther string
	for i := range 20 {
		if s := fmt.Sprintf("session-%d", i); served("X-Session-Id", s) == "other" {
			onOther = s
			break
		}
	}
	require.NotEmpty(t, onOther)
	e.ups["other"].Always(khivetest.Fault{Kind: khivetest.Status, Status: http.StatusServiceUnavailable})
	assert.Equal(t, "up", served("X-Session-Id", onOther), "its target down: the next one")
}
