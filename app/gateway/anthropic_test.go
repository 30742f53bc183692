package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/khivetest"
)

func TestOpenAIClientToAnthropicModel(t *testing.T) {
	e := newEnv(t)
	var raw *http.Response
	out, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "smart",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("be brief"), openai.UserMessage("hello claude"),
		},
		MaxTokens: openai.Int(50),
		Stop:      openai.ChatCompletionNewParamsStopUnion{OfString: openai.String("never")},
	}, option.WithResponseInto(&raw))
	require.NoError(t, err)
	assert.Equal(t, "claude", raw.Header.Get("X-Khive-Endpoint"))
	assert.Equal(t, "echo: hello claude", out.Choices[0].Message.Content)
	assert.Equal(t, "stop", string(out.Choices[0].FinishReason))
	assert.Positive(t, out.Usage.TotalTokens)

	last := e.ups["anth"].Last()
	assert.Equal(t, "/v1/messages", last.Path)
	assert.Equal(t, "claude-sonnet-4-5", last.Body["model"])
	assert.Equal(t, "be brief", last.Body["system"])
	assert.Equal(t, float64(50), last.Body["max_tokens"])
	assert.Equal(t, []any{"never"}, last.Body["stop_sequences"])
	assert.Equal(t, upstreamKey, last.Header.Get("X-Api-Key"))
	assert.Equal(t, "2023-06-01", last.Header.Get("Anthropic-Version"))

	// max_tokens reached → finish_reason length.
	out, err = e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "claude/claude-haiku", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three four")},
		MaxTokens: openai.Int(2),
	})
	require.NoError(t, err)
	assert.Equal(t, "length", string(out.Choices[0].FinishReason))
	assert.Equal(t, "echo: one ", out.Choices[0].Message.Content)
}

func TestOpenAIStreamFromAnthropic(t *testing.T) {
	e := newEnv(t)
	stream := e.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "anthropic/claude-sonnet",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream from claude")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, "echo: stream from claude", acc.Choices[0].Message.Content)
	assert.Equal(t, "stop", string(acc.Choices[0].FinishReason))
	assert.Positive(t, acc.Usage.TotalTokens, "the usage chunk was made from message_start and message_delta")

	// An error event mid-stream becomes an error for the client, not a silent end.
	e.ups["anth"].Script(khivetest.Fault{Kind: khivetest.ErrorEvent})
	stream = e.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "claude/claude-sonnet", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a b c d")},
	})
	defer stream.Close()
	for stream.Next() {
	}
	require.Error(t, stream.Err())
	assert.Contains(t, stream.Err().Error(), "Overloaded")
}

// messages posts an Anthropic-format request with x-api-key auth.
func (e *env) messages(body string, headers ...string) (int, http.Header, string) {
	return e.post("/v1/messages", body, append([]string{"Authorization", "", "X-Api-Key", clientKey}, headers...)...)
}

func TestMessagesRoutePassesThroughToAnthropic(t *testing.T) {
	e := newEnv(t)
	status, h, body := e.messages(`{"model":"claude/claude-sonnet","max_tokens":100,"messages":[{"role":"user","content":"pass me"}],"metadata":{"user_id":"u1"}}`,
		"Anthropic-Version", "2026-10-21", "Anthropic-Beta", "some-beta")
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "claude", h.Get("X-Khive-Endpoint"))
	assert.JSONEq(t, `{"id":"msg_fake","type":"message","role":"assistant","model":"claude-sonnet","content":[{"type":"text","text":"echo: pass me"}],
		"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":3}}`, body)
	last := e.ups["anth"].Last()
	assert.Equal(t, "2026-10-21", last.Header.Get("Anthropic-Version"), "the client's version is accepted and forwarded")
	assert.Equal(t, "some-beta", last.Header.Get("Anthropic-Beta"))
	assert.Equal(t, map[string]any{"user_id": "u1"}, last.Body["metadata"], "unknown fields pass through")

	// Streaming passes through event by event.
	events := e.sse(t, "/v1/messages", `{"model":"claude/claude-sonnet","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"stream it"}]}`)
	assert.Equal(t, []string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
		"content_block_delta", "content_block_stop", "message_delta", "message_stop"}, eventNames(events))
}

func TestMessagesRouteTranslatesToOpenAI(t *testing.T) {
	e := newEnv(t)
	status, h, body := e.messages(`{"model":"up/gpt-4.1","max_tokens":100,"system":"be kind","messages":[{"role":"user","content":[{"type":"text","text":"to openai"}]}]}`)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "up", h.Get("X-Khive-Endpoint"))
	var resp struct {
		Type       string
		Role       string
		Content    []struct{ Type, Text string }
		StopReason string `json:"stop_reason"`
		Usage      struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &resp))
	assert.Equal(t, "message", resp.Type)
	assert.Equal(t, "echo: to openai", resp.Content[0].Text)
	assert.Equal(t, "end_turn", resp.StopReason)
	assert.Positive(t, resp.Usage.OutputTokens)
	last := e.ups["up"].Last()
	assert.Equal(t, "/v1/chat/completions", last.Path)
	assert.Equal(t, []any{map[string]any{"role": "system", "content": "be kind"}, map[string]any{"role": "user", "content": "to openai"}}, last.Body["messages"])

	events := e.sse(t, "/v1/messages", `{"model":"fast","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"stream to openai"}]}`)
	assert.Equal(t, "message_start", events[0].name)
	assert.Equal(t, "message_stop", events[len(events)-1].name)
	var text string
	for _, ev := range events {
		if ev.name == "content_block_delta" {
			var d struct{ Delta struct{ Text string } }
			require.NoError(t, json.Unmarshal([]byte(ev.data), &d))
			text += d.Delta.Text
		}
	}
	assert.Equal(t, "echo: stream to openai", text)
	md := events[len(events)-2]
	assert.Equal(t, "message_delta", md.name)
	assert.Contains(t, md.data, `"stop_reason":"end_turn"`)
	assert.Equal(t, true, e.ups["up"].Last().Body["stream_options"].(map[string]any)["include_usage"])
}

func TestMessagesRouteErrorsInAnthropicFormat(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name, body string
		status     int
		typ        string
	}{
		{"missing max_tokens", `{"model":"fast","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error"},
		{"unknown model", `{"model":"nope","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, 404, "not_found_error"},
		{"malformed", `{"model":`, 400, "invalid_request_error"},
		{"a server tool to an OpenAI target", `{"model":"up/m","max_tokens":5,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := e.messages(tt.body)
			assert.Equal(t, tt.status, status, body)
			var eb struct {
				Type  string
				Error struct{ Type, Message string }
			}
			require.NoError(t, json.Unmarshal([]byte(body), &eb), body)
			assert.Equal(t, "error", eb.Type)
			assert.Equal(t, tt.typ, eb.Error.Type)
			assert.NotEmpty(t, eb.Error.Message)
		})
	}
	status, _, _ := e.post("/v1/messages", `{}`, "Authorization", "", "X-Api-Key", "wrong")
	assert.Equal(t, http.StatusUnauthorized, status)
}

func TestUpstreamErrorsKeepTheirMeaning(t *testing.T) {
	e := newEnv(t)
	retryAfter := map[string]string{"retry-after": "120"} // over retry.max_retry_after (60 s): not waited for, passed on capped
	for _, tt := range []struct {
		name      string
		fault     khivetest.Fault
		route     string // chat or messages
		model     string
		status    int
		typ       string
		message   string
		retryHdr  string
		upstreams string
	}{
		{"anthropic 429 via chat", khivetest.Fault{Kind: khivetest.Status, Status: 429, Headers: retryAfter}, "chat", "claude/c", 429, "rate_limit_error", "fake upstream answered 429", "60", "anth"},
		{"anthropic 529 via chat", khivetest.Fault{Kind: khivetest.Status, Status: 529}, "chat", "claude/c", 503, "overloaded_error", "fake upstream answered 529", "", "anth"},
		{"anthropic 400 via chat", khivetest.Fault{Kind: khivetest.Status, Status: 400}, "chat", "claude/c", 400, "invalid_request_error", "fake upstream answered 400", "", "anth"},
		{"anthropic 529 via messages", khivetest.Fault{Kind: khivetest.Status, Status: 529}, "messages", "claude/c", 529, "overloaded_error", "fake upstream answered 529", "", "anth"},
		{"anthropic 429 via messages", khivetest.Fault{Kind: khivetest.Status, Status: 429, Headers: retryAfter}, "messages", "claude/c", 429, "rate_limit_error", "fake upstream answered 429", "60", "anth"},
		{"openai 429 via messages", khivetest.Fault{Kind: khivetest.Status, Status: 429, Headers: retryAfter}, "messages", "up/m", 429, "rate_limit_error", "fake upstream answered 429", "60", "up"},
		{"openai 400 via messages", khivetest.Fault{Kind: khivetest.Status, Status: 400}, "messages", "up/m", 400, "invalid_request_error", "fake upstream answered 400", "", "up"},
		{"openai 503 via messages", khivetest.Fault{Kind: khivetest.Status, Status: 503}, "messages", "up/m", 503, "overloaded_error", "fake upstream answered 503", "", "up"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.ups[tt.upstreams].Always(tt.fault)
			defer e.ups[tt.upstreams].Always(khivetest.Fault{})
			var status int
			var h http.Header
			var body string
			if tt.route == "chat" {
				status, h, body = e.post("/v1/chat/completions", `{"model":"`+tt.model+`","messages":[{"role":"user","content":"x"}]}`)
			} else {
				status, h, body = e.messages(`{"model":"` + tt.model + `","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`)
			}
			assert.Equal(t, tt.status, status, body)
			assert.Equal(t, tt.retryHdr, h.Get("Retry-After"))
			var eb struct {
				Type  string
				Error struct{ Type, Message string }
			}
			require.NoError(t, json.Unmarshal([]byte(body), &eb), body)
			assert.Equal(t, tt.typ, eb.Error.Type)
			assert.Equal(t, tt.message, eb.Error.Message)
			if tt.route == "messages" {
				assert.Equal(t, "error", eb.Type, "Anthropic's envelope on the messages route")
			}
		})
	}
}

func TestTranslationRefusalNamesTheField(t *testing.T) {
	e := newEnv(t)
	status, _, body := e.post("/v1/chat/completions",
		`{"model":"claude/c","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{not json"}}]}]}`)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, `"param":"messages[1].tool_calls[0].function.arguments"`, "malformed arguments are named by message index")
	assert.Zero(t, e.ups["anth"].Requests(), "nothing was sent")

	// With an alias, a target of the other kind may still take it.
	_, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "smart", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		Temperature: openai.Float(1.5), // above Anthropic's range: the OpenAI fallback serves it
	})
	require.NoError(t, err)
}

type sseEvent struct{ name, data string }

// sse posts a streaming request and reads every event.
func (e *env) sse(t *testing.T, path, body string) []sseEvent {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url(path), strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-Api-Key", clientKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var events []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		case line == "":
			events = append(events, cur)
			cur = sseEvent{}
		}
	}
	require.NoError(t, sc.Err())
	return events
}

func eventNames(evs []sseEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.name)
	}
	return out
}

func TestMessagesStreamErrorsInBand(t *testing.T) {
	e := newEnv(t)
	// Anthropic upstream sends an error event mid-stream: passed on as one.
	e.ups["anth"].Script(khivetest.Fault{Kind: khivetest.ErrorEvent})
	events := e.sse(t, "/v1/messages", `{"model":"claude/c","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"a b c d"}]}`)
	last := events[len(events)-1]
	assert.Equal(t, "error", last.name)
	assert.JSONEq(t, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, last.data)

	// An OpenAI-compatible upstream cut mid-stream: an Anthropic error event.
	e.ups["up"].Script(khivetest.Fault{Kind: khivetest.CutStream})
	events = e.sse(t, "/v1/messages", `{"model":"up/m","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"a b c d"}]}`)
	last = events[len(events)-1]
	assert.Equal(t, "error", last.name)
	assert.JSONEq(t, `{"type":"error","error":{"type":"api_error","message":"the upstream stream was cut"}}`, last.data)
}

// An Anthropic upstream gets the client's version, every beta (an open
// list, however many header lines) and Claude Code's session id.
func TestMessagesForwardAnthropicHeadersAsSent(t *testing.T) {
	e := newEnv(t)
	req, err := http.NewRequest(http.MethodPost, e.url("/v1/messages"),
		strings.NewReader(`{"model":"smart","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+clientKey)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Add("Anthropic-Beta", "mid-conversation-tool-changes-2026-07-01,interleaved-thinking-2025-05-14")
	req.Header.Add("Anthropic-Beta", "context-management-2025-06-27")
	req.Header.Set("X-Claude-Code-Session-Id", "sess-1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	got := e.ups["anth"].Last().Header
	assert.Equal(t, []string{"mid-conversation-tool-changes-2026-07-01,interleaved-thinking-2025-05-14", "context-management-2025-06-27"},
		got.Values("Anthropic-Beta"))
	assert.Equal(t, "sess-1", got.Get("X-Claude-Code-Session-Id"))
	assert.Equal(t, "2023-06-01", got.Get("Anthropic-Version"))
}

// Claude Code and anthropic-sdk-go list models in Anthropic's shape: a
// request with anthropic-version gets it, errors included.
func TestModelsInAnthropicsShape(t *testing.T) {
	e := newEnv(t)
	get := func(path string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, e.url(path), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+clientKey)
		req.Header.Set("Anthropic-Version", "2023-06-01")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
		return resp.StatusCode, b.String()
	}
	status, body := get("/v1/models")
	require.Equal(t, http.StatusOK, status, body)
	var list struct {
		Data []struct {
			Type, ID, DisplayName, CreatedAt string
		}
		HasMore bool   `json:"has_more"`
		FirstID string `json:"first_id"`
		LastID  string `json:"last_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.NotEmpty(t, list.Data)
	assert.False(t, list.HasMore)
	assert.Equal(t, list.Data[0].ID, list.FirstID)
	assert.Equal(t, list.Data[len(list.Data)-1].ID, list.LastID)
	var ids []string
	for _, m := range list.Data {
		assert.Equal(t, "model", m.Type)
		ids = append(ids, m.ID)
	}
	assert.Contains(t, ids, "smart")
	assert.Contains(t, body, `"display_name":"smart"`)
	assert.Contains(t, body, `"created_at":"`)

	status, body = get("/v1/models/smart")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `"type":"model","id":"smart"`)
	status, body = get("/v1/models/nope")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Contains(t, body, `{"type":"error","error":{"type":"not_found_error"`)
}
