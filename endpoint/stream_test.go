package endpoint_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/endpoint"
)

func sse(raw string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, raw)
	}
}

func drain(s *endpoint.Stream) []endpoint.Event {
	var evs []endpoint.Event
	for s.Next() {
		evs = append(evs, s.Event())
	}
	return evs
}

func TestSSEParsing(t *testing.T) {
	for _, tt := range []struct {
		name    string
		raw     string
		want    []endpoint.Event
		wantErr string
	}{
		{"openai chunks and done", "data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\ndata: {\"after\":true}\n\n",
			[]endpoint.Event{{Data: `{"a":1}`}, {Data: `{"a":2}`}}, ""},
		{"multi-line data, crlf, comments, ids", ": keep-alive\r\n\r\nevent: delta\r\nid: 7\r\ndata: line1\r\ndata:line2\r\nretry: 100\r\n\r\n",
			[]endpoint.Event{{Event: "delta", ID: "7", Data: "line1\nline2"}}, ""},
		{"anthropic events without done", "event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
			[]endpoint.Event{{Event: "message_start", Data: `{"type":"message_start"}`}, {Event: "ping", Data: `{"type": "ping"}`}, {Event: "message_stop", Data: `{"type":"message_stop"}`}}, ""},
		{"openai error in a data line", "data: {\"a\":1}\n\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n",
			[]endpoint.Event{{Data: `{"a":1}`}}, "error in stream: server_error: overloaded"},
		{"anthropic error event", "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
			nil, "overloaded_error: Overloaded"},
		{"cut mid-event", "data: {\"a\":1}\n\ndata: {\"a\":", []endpoint.Event{{Data: `{"a":1}`}}, "unexpected EOF"},
		{"cut after a field line", "data: {\"a\":1}\n\nevent: x\n", []endpoint.Event{{Data: `{"a":1}`}}, "unexpected EOF"},
		{"empty data field", "data:\n\n", []endpoint.Event{{Data: ""}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, sse(tt.raw))
			e := start(t, baseConfig(u))
			s, err := e.Stream(context.Background(), endpoint.Request{Body: map[string]any{"stream": true}})
			require.NoError(t, err)
			defer s.Close()
			assert.Equal(t, 200, s.Status)
			assert.Equal(t, tt.want, drain(s))
			if tt.wantErr == "" {
				assert.NoError(t, s.Err())
			} else {
				assert.ErrorContains(t, s.Err(), tt.wantErr)
			}
			assert.False(t, s.Next(), "ended streams stay ended")
		})
	}
}

func TestStreamErrorType(t *testing.T) {
	u := newUpstream(t, sse("data: {\"error\":{\"message\":\"boom\"}}\n\n"))
	e := start(t, baseConfig(u))
	s, err := e.Stream(context.Background(), endpoint.Request{})
	require.NoError(t, err)
	defer s.Close()
	drain(s)
	var se *endpoint.StreamError
	require.True(t, errors.As(s.Err(), &se))
	assert.Equal(t, "boom", se.Message)
}

func TestStreamCutByTheServer(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"a\":1}\n\n")
		http.NewResponseController(w).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close() // chunked body never terminated
		}
	})
	e := start(t, baseConfig(u))
	s, err := e.Stream(context.Background(), endpoint.Request{})
	require.NoError(t, err)
	defer s.Close()
	assert.Len(t, drain(s), 1)
	require.Error(t, s.Err(), "a cut connection is an error, not a silent end")
}

func TestStreamRetriesBeforeFirstEventOnly(t *testing.T) {
	h, _ := failThen(1, status(503))
	var calls atomic.Int64
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			h(w, r)
			return
		}
		sse("data: 1\n\ndata: [DONE]\n\n")(w, r)
	})
	w := &waits{}
	e := start(t, baseConfig(u), endpoint.WithSleep(w.sleep))
	s, err := e.Stream(context.Background(), endpoint.Request{})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, []endpoint.Event{{Data: "1"}}, drain(s))
	assert.Equal(t, int64(2), u.requests.Load())
	assert.Len(t, w.all(), 1)
}

func TestStreamNon2xxIsStatusError(t *testing.T) {
	u := newUpstream(t, status(400))
	e := start(t, baseConfig(u))
	_, err := e.Stream(context.Background(), endpoint.Request{})
	var se *endpoint.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 400, se.Status)
}

func TestStreamHoldsSlotUntilClose(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
		}
	})
	cfg := baseConfig(u)
	cfg.Limits = endpoint.Limits{MaxConcurrency: 1}
	e := start(t, cfg)
	s, err := e.Stream(context.Background(), endpoint.Request{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), e.Stats().Running)
	_, err = e.Call(context.Background(), endpoint.Request{})
	assert.Error(t, err, "the open stream holds the only slot")
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	assert.False(t, s.Next())
	assert.NoError(t, s.Err())
	for e.Stats().Running != 0 {
		runtimeGosched()
	}
	_, err = e.Call(context.Background(), endpoint.Request{})
	assert.NoError(t, err)
}
