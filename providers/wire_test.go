package providers_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/providers"
)

func TestChatRequestKeepsUnknownFields(t *testing.T) {
	in := `{"model":"m","messages":[{"role":"user","content":"hi","cache_control":{"type":"ephemeral"}}],
		"stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"stop":["a","b"],
		"seed":7,"response_format":{"type":"json_object"},"tools":[{"type":"function"}]}`
	var r providers.ChatRequest
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
		"chat response": {&providers.ChatResponse{}, `{"id":"c","object":"chat.completion","created":1,"model":"m",
			"choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3},"system_fingerprint":"fp"}`},
		"chat chunk": {&providers.ChatChunk{}, `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m",
			"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}`},
		"embeddings request": {&providers.EmbeddingsRequest{}, `{"model":"e","input":["a","b"],"encoding_format":"base64","user":"u"}`},
		"embeddings response": {&providers.EmbeddingsResponse{}, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,1]}],
			"model":"e","usage":{"prompt_tokens":2,"total_tokens":2}}`},
		"openai error": {&providers.ErrorBody{}, `{"error":{"message":"m","type":"t","param":null,"code":"c"}}`},
		"messages request": {&providers.MessagesRequest{}, `{"model":"claude","max_tokens":10,"system":"be brief",
			"messages":[{"role":"user","content":"hi"}],"stop_sequences":["x"],"temperature":0.5,"metadata":{"user_id":"u"}}`},
		"messages response": {&providers.MessagesResponse{}, `{"id":"msg","type":"message","role":"assistant","model":"claude",
			"content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"t","name":"f","input":{}}],
			"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2}}`},
		"stream event":    {&providers.StreamEvent{}, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`},
		"anthropic error": {&providers.AnthropicErrorBody{}, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`},
		"exa request":     {&providers.ExaSearchRequest{}, `{"query":"q","numResults":3,"type":"auto","contents":{"text":true},"includeDomains":["a.b"]}`},
		"exa response":    {&providers.ExaSearchResponse{}, `{"requestId":"r","results":[{"id":"1","url":"https://a.b","title":"t","publishedDate":"2026-01-01","author":"a","text":"x"}]}`},
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, json.Unmarshal([]byte(tt.in), tt.v))
			out, err := json.Marshal(tt.v)
			require.NoError(t, err)
			assert.JSONEq(t, tt.in, string(out))
		})
	}
}

func sortedKeys(m providers.Extra) []string {
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
		assert.Equal(t, want, providers.ChatMessage{Content: json.RawMessage(raw)}.Text(), raw)
	}
	assert.Equal(t, "", providers.ChatMessage{}.Text())
}
