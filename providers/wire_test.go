package providers_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/exa"
	"github.com/khive-go/khive/providers/openai"
)

func TestChatRequestKeepsUnknownFields(t *testing.T) {
	in := `{"model":"m","messages":[{"role":"user","content":"hi","cache_control":{"type":"ephemeral"}}],
		"stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"stop":["a","b"],
		"seed":7,"response_format":{"type":"json_object"},"tools":[{"type":"function"}]}`
	var r openai.ChatRequest
	require.NoError(t, json.Unmarshal([]byte(in), &r))
	assert.Equal(t, "m", r.Model)
	assert.True(t, r.Stream)
	assert.True(t, r.StreamOptions.IncludeUsage)
	assert.Equal(t, 5, *r.MaxTokens)
	assert.JSONEq(t, `["a","b"]`, string(r.Stop))
	assert.Equal(t, []string{"response_format", "seed", "tools"}, sortedKeys(r.Extra))
	assert.Contains(t, r.Messages[0].Extra, "cache_control")

	r.Model = "upstream-model"
	out, err := json.Marshal(r)
	require.NoError(t, err)
	assert.JSONEq(t, `{"model":"upstream-model","messages":[{"role":"user","content":"hi","cache_control":{"type":"ephemeral"}}],
		"stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"stop":["a","b"],
		"seed":7,"response_format":{"type":"json_object"},"tools":[{"type":"function"}]}`, string(out))
}

func TestWireRoundTrips(t *testing.T) {
	for name, tt := range map[string]struct {
		v  any
		in string
	}{
		"chat response": {&openai.ChatResponse{}, `{"id":"c","object":"chat.completion","created":1,"model":"m",
			"choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"stop","logprobs":null}],
			"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3},"system_fingerprint":"fp"}`},
		"chat chunk": {&openai.ChatChunk{}, `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m",
			"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}`},
		"embeddings request": {&openai.EmbeddingsRequest{}, `{"model":"e","input":["a","b"],"encoding_format":"base64","user":"u"}`},
		"embeddings response": {&openai.EmbeddingsResponse{}, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,1]}],
			"model":"e","usage":{"prompt_tokens":2,"total_tokens":2}}`},
		"openai error": {&openai.ErrorBody{}, `{"error":{"message":"m","type":"t","param":null,"code":"c"}}`},
		"messages request": {&anthropic.MessagesRequest{}, `{"model":"claude","max_tokens":10,"system":"be brief",
			"messages":[{"role":"user","content":"hi"}],"stop_sequences":["x"],"temperature":0.5,"metadata":{"user_id":"u"}}`},
		"messages response": {&anthropic.MessagesResponse{}, `{"id":"msg","type":"message","role":"assistant","model":"claude",
			"content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"t","name":"f","input":{}}],
			"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2}}`},
		"stream event":    {&anthropic.StreamEvent{}, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`},
		"anthropic error": {&anthropic.ErrorBody{}, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`},
		"exa request":     {&exa.SearchRequest{}, `{"query":"q","numResults":3,"type":"auto","contents":{"text":true},"includeDomains":["a.b"]}`},
		"exa response":    {&exa.SearchResponse{}, `{"requestId":"r","results":[{"id":"1","url":"https://a.b","title":"t","publishedDate":"2026-01-01","author":"a","text":"x"}]}`},
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, json.Unmarshal([]byte(tt.in), tt.v))
			out, err := json.Marshal(tt.v)
			require.NoError(t, err)
			assert.JSONEq(t, tt.in, string(out))
		})
	}
}

func sortedKeys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sortStrings(ks)
	return ks
}

func TestChatMessageText(t *testing.T) {
	for raw, want := range map[string]string{
		`"plain"`: "plain",
		`[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]`: "ab",
		`null`: "",
		`42`:   "",
	} {
		assert.Equal(t, want, openai.ChatMessage{Content: json.RawMessage(raw)}.Text(), raw)
	}
	assert.Equal(t, "", openai.ChatMessage{}.Text())
}
