package ratelimit

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/khive-go/khive/executor"
)

// parseIETF reads the IETF RateLimit and RateLimit-Policy fields
// (draft-ietf-httpapi-ratelimit-headers): lists of items, each a quoted
// policy name with parameters; RateLimit gives r (remaining) and t (seconds
// until the window resets), RateLimit-Policy gives q (quota) and w (window
// seconds). Of several policies the one with the least remaining wins.
func parseIETF(h http.Header) (executor.Window, bool) {
	vs := h.Values("Ratelimit")
	if len(vs) == 0 {
		return executor.Window{}, false
	}
	type item struct {
		name string
		r, t int64
	}
	var best *item
	for _, v := range vs {
		for _, raw := range strings.Split(v, ",") {
			name, params := sfItem(raw)
			it := item{name: name, r: params["r"], t: params["t"]}
			if it.r < 0 {
				continue
			}
			if best == nil || it.r < best.r {
				best = &it
			}
		}
	}
	if best == nil {
		return executor.Window{}, false
	}
	w := executor.Window{Limit: -1, Remaining: best.r, Reset: -1, Fixed: true}
	if best.t >= 0 {
		w.Reset = time.Duration(best.t) * time.Second
	}
	for _, v := range h.Values("Ratelimit-Policy") {
		for _, raw := range strings.Split(v, ",") {
			if name, params := sfItem(raw); name == best.name && params["q"] > 0 {
				w.Limit = params["q"]
			}
		}
	}
	return w, true
}

// sfItem reads one structured-field item `"name";k=v;k=v` (RFC 9651) with
// integer parameters; unreadable parameters are -1.
func sfItem(raw string) (string, map[string]int64) {
	parts := strings.Split(strings.TrimSpace(raw), ";")
	name := strings.Trim(strings.TrimSpace(parts[0]), `"`)
	params := map[string]int64{"r": -1, "t": -1, "q": -1, "w": -1}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 && n < maxSeconds {
			params[strings.TrimSpace(k)] = n
		}
	}
	return name, params
}
