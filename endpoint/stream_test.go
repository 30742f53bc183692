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
	"github.com/khive-go/khive/providers/anthropic"
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

// Stream sets "stream": true on an object body that lacks the field, and
// leaves every other body as it was.
func TestStreamSetsTheStreamFlag(t *testing.T) {
	var got atomic.Value
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
		sse("data: {\"a\":1}\n\ndata: [DONE]\n\n")(w, r)
	})
	e := start(t, baseConfig(u))
	for _, tt := range []struct {
		name string
		body any
		want string
	}{
		{"a map without the flag", map[string]any{"model": "m"}, `{"stream":true,"model":"m"}`},
		{"an empty object", []byte(`{ }`), `{"stream":true }`},
		{"the word in a message only", []byte(`{"messages":[{"content":"\"stream\""}]}`), `{"stream":true,"messages":[{"content":"\"stream\""}]}`},
		{"the flag given", []byte(`{"model":"m","stream":true}`), `{"model":"m","stream":true}`},
		{"the flag given false: the caller's choice", []byte(`{"stream":false}`), `{"stream":false}`},
		{"not an object", []byte(`[1]`), `[1]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := e.Stream(context.Background(), endpoint.Request{Body: tt.body})
			require.NoError(t, err)
			drain(s)
			require.NoError(t, s.Close())
			assert.Equal(t, tt.want, got.Load())
		})
	}
}

// Answer reads id, model and finish reasons from the chunks that carry
// them, with usage or without it, on both wire formats.
func TestStreamAnswer(t *testing.T) {
	for _, tt := range []struct {
		name    string
		dialect endpoint.Dialect
		raw     string
		want    endpoint.Answer
	}{
		{"openai without include_usage", endpoint.GenericDialect{},
			"data: {\"id\":\"c1\",\"model\":\"gpt\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n" +
				"data: {\"id\":\"c1\",\"model\":\"gpt\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
			endpoint.Answer{ID: "c1", Model: "gpt", FinishReasons: []string{"stop"}, InputTokens: -1, OutputTokens: -1}},
		{"openai, two choices and usage", endpoint.GenericDialect{},
			"data: {\"id\":\"c2\",\"model\":\"gpt\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}],\"usage\":null}\n\n" +
				"data: {\"id\":\"c2\",\"model\":\"gpt\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n" +
				"data: {\"id\":\"c2\",\"model\":\"gpt\",\"choices\":[{\"index\":1,\"delta\":{},\"finish_reason\": \"length\"}],\"usage\":null}\n\n" +
				"data: {\"id\":\"c2\",\"model\":\"gpt\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}\n\ndata: [DONE]\n\n",
			endpoint.Answer{ID: "c2", Model: "gpt", FinishReasons: []string{"stop", "length"}, InputTokens: 5, OutputTokens: 7}},
		{"anthropic", anthropic.Dialect,
			"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"stop_reason\":null,\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n" +
				"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n" +
				"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":12}}\n\n" +
				"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
			endpoint.Answer{ID: "msg_1", Model: "claude", FinishReasons: []string{"end_turn"}, InputTokens: 9, OutputTokens: 12}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, sse(tt.raw))
			e := start(t, baseConfig(u), endpoint.WithDialect(tt.dialect))
			s, err := e.Stream(context.Background(), endpoint.Request{Body: map[string]any{"model": "m"}})
			require.NoError(t, err)
			defer s.Close()
			drain(s)
			require.NoError(t, s.Err())
			assert.Equal(t, tt.want, s.Answer())
		})
	}
}

func TestStreamEventsIterator(t *testing.T) {
	u := newUpstream(t, sse("data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: {\"a\":"))
	e := start(t, baseConfig(u))
	s, err := e.Stream(context.Background(), endpoint.Request{})
	require.NoError(t, err)
	var data []string
	var last error
	for ev, err := range s.Events() {
		if err != nil {
			last = err
			break
		}
		data = append(data, ev.Data)
	}
	assert.Equal(t, []string{`{"a":1}`, `{"a":2}`}, data)
	assert.ErrorContains(t, last, "unexpected EOF", "the error that ended the stream is the last pair")
	assert.False(t, s.Next(), "the loop closed the stream")
	assert.Zero(t, e.Stats().Running, "and freed its slot")

	s, err = e.Stream(context.Background(), endpoint.Request{})
	require.NoError(t, err)
	for range s.Events() {
		break // leaving early closes it too
	}
	assert.Zero(t, e.Stats().Running)
}

// Complete tells a stream that ended as its format says from one cut
// short upstream; a 2xx that is no event stream is an error, not a stream.
func TestStreamCompleteAndNotAStream(t *testing.T) {
	for _, tt := range []struct {
		name, raw string
		complete  bool
	}{
		{"[DONE]", "data: {\"a\":1}\n\ndata: [DONE]\n\n", true},
		{"a finish_reason", "data: {\"choices\":[{\"finish_reason\":\"stop\"}]}\n\n", true},
		{"message_stop", "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", true},
		{"response.completed", "event: response.completed\ndata: {\"type\":\"response.completed\"}\n\n", true},
		{"a clean end after a chunk", "data: {\"choices\":[{\"finish_reason\":null}]}\n\n", false},
		{"a stop_reason alone is not Anthropic's end", "event: message_delta\ndata: {\"delta\":{\"stop_reason\":\"end_turn\"}}\n\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, sse(tt.raw))
			e := start(t, baseConfig(u))
			s, err := e.Stream(context.Background(), endpoint.Request{})
			require.NoError(t, err)
			drain(s)
			require.NoError(t, s.Err())
			assert.Equal(t, tt.complete, s.Complete())
			require.NoError(t, s.Close())
		})
	}
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html></html>")
	})
	e := start(t, baseConfig(u))
	_, err := e.Stream(context.Background(), endpoint.Request{})
	var nse *endpoint.NotAStreamError
	require.ErrorAs(t, err, &nse)
	assert.Equal(t, endpoint.NotAStreamError{Endpoint: "test", Status: 200, ContentType: "text/html"}, *nse)
	assert.Equal(t, int64(1), u.requests.Load(), "not retried")
	assert.Zero(t, e.Stats().Running)
}

func TestGenericDialectReadsCachedInput(t *testing.T) {
	chat := endpoint.GenericDialect{}.Answer([]byte(`{"usage":{"prompt_tokens":1000,"completion_tokens":20,"prompt_tokens_details":{"cached_tokens":800}}}`))
	assert.Equal(t, 1000, chat.InputTokens)
	assert.Equal(t, 800, chat.CachedInputTokens, "chat: prompt_tokens_details.cached_tokens, a part of prompt_tokens")
	responses := endpoint.GenericDialect{}.Answer([]byte(`{"usage":{"input_tokens":500,"output_tokens":5,"input_tokens_details":{"cached_tokens":300}}}`))
	assert.Equal(t, 500, responses.InputTokens)
	assert.Equal(t, 300, responses.CachedInputTokens)
	assert.Zero(t, responses.CacheWriteTokens)
}

// Answer reads id, model, each choice's finish_reason, stop_reason and the
// usage, whatever the text between them holds; what is not an object
// gives no usage.
func TestGenericDialectAnswerScansPastTheText(t *testing.T) {
	a := endpoint.GenericDialect{}.Answer([]byte(`{"id":"chatcmpl-\"1","object":"chat.completion","model":"m",
		"choices":[{"index":0,"message":{"role":"assistant","content":"a \"usage\": {\"prompt_tokens\": 99} and } ] {"},"finish_reason":"stop"},
		{"index":1,"message":{"content":null},"finish_reason":null},{"index":2,"finish_reason":"length"}],
		"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`))
	assert.Equal(t, endpoint.Answer{ID: `chatcmpl-"1`, Model: "m", FinishReasons: []string{"stop", "length"}, InputTokens: 7, OutputTokens: 3}, a)
	for _, bad := range []string{``, `[]`, `{"usage":{"prompt_tokens":7`, `{"usage":"x"}`, `not json`} {
		a := endpoint.GenericDialect{}.Answer([]byte(bad))
		assert.Equal(t, -1, a.InputTokens, bad)
		assert.Equal(t, -1, a.OutputTokens, bad)
	}
}
