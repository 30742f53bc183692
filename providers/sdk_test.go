package providers_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/khivetest"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/anthropic"
	khiveopenai "github.com/khive-go/khive/providers/openai"
)

const upstreamKey = "sk-upstream-secret"

func startOpenAI(t *testing.T, up *khivetest.Server, name, transport string) *endpoint.Endpoint {
	t.Helper()
	cfg, err := providers.Match("openai", name, env(),
		providers.WithBaseURL(up.BaseURL()), providers.WithAPIKey(endpoint.NewSecret(upstreamKey)),
		providers.WithTransport(transport))
	require.NoError(t, err)
	cfg.Retry = endpoint.RetryConfig{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxRetryAfter: time.Second}
	e, err := providers.NewEndpoint(cfg)
	require.NoError(t, err)
	require.NoError(t, e.Start(context.Background()))
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	return e
}

var chatBody = map[string]any{"model": "gpt-4o-mini", "messages": []any{map[string]any{"role": "user", "content": "hello world"}}}

// The same table runs over both transports: Call and Stream behave alike.
func TestTransportsBehaveAlike(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, up *khivetest.Server, chat, emb *endpoint.Endpoint)
	}{
		{"requests go through the chosen transport", func(t *testing.T, up *khivetest.Server, chat, _ *endpoint.Endpoint) {
			_, err := chat.Call(context.Background(), endpoint.Request{Body: chatBody})
			require.NoError(t, err)
			viaSDK := up.Last().Header.Get("X-Stainless-Lang") == "go"
			assert.Equal(t, chat.Config().Transport == endpoint.TransportSDK, viaSDK)
		}},
		{"chat", func(t *testing.T, up *khivetest.Server, chat, _ *endpoint.Endpoint) {
			resp, err := chat.Call(context.Background(), endpoint.Request{Body: chatBody})
			require.NoError(t, err)
			var out khiveopenai.ChatResponse
			require.NoError(t, resp.Decode(&out))
			assert.Equal(t, "echo: hello world", string(mustString(t, out.Choices[0].Message.Content)))
			assert.Equal(t, "Bearer "+upstreamKey, up.Last().Header.Get("Authorization"))
		}},
		{"stream with usage", func(t *testing.T, _ *khivetest.Server, chat, _ *endpoint.Endpoint) {
			body := map[string]any{"stream": true, "stream_options": map[string]any{"include_usage": true}}
			for k, v := range chatBody {
				body[k] = v
			}
			s, err := chat.Stream(context.Background(), endpoint.Request{Body: body})
			require.NoError(t, err)
			defer s.Close()
			var text string
			var usage *khiveopenai.ChatUsage
			for s.Next() {
				var c khiveopenai.ChatChunk
				require.NoError(t, json.Unmarshal([]byte(s.Event().Data), &c))
				for _, ch := range c.Choices {
					text += ch.Delta.Content
				}
				if c.Usage != nil {
					usage = c.Usage
				}
			}
			require.NoError(t, s.Err())
			assert.Equal(t, "echo: hello world", text)
			require.NotNil(t, usage)
			assert.Positive(t, usage.TotalTokens)
		}},
		{"embeddings float and base64", func(t *testing.T, _ *khivetest.Server, _, emb *endpoint.Endpoint) {
			for _, format := range []string{"float", "base64"} {
				resp, err := emb.Call(context.Background(), endpoint.Request{Body: map[string]any{"model": "e", "input": []string{"a", "b"}, "encoding_format": format}})
				require.NoError(t, err)
				var out khiveopenai.EmbeddingsResponse
				require.NoError(t, resp.Decode(&out))
				assert.Len(t, out.Data, 2)
				if format == "base64" {
					assert.Equal(t, byte('"'), out.Data[0].Embedding[0])
				} else {
					assert.Equal(t, byte('['), out.Data[0].Embedding[0])
				}
			}
		}},
		{"retry after 500", func(t *testing.T, up *khivetest.Server, chat, _ *endpoint.Endpoint) {
			up.Script(khivetest.Fault{Kind: khivetest.Status, Status: 500})
			resp, err := chat.Call(context.Background(), endpoint.Request{Body: chatBody})
			require.NoError(t, err)
			assert.Equal(t, 2, resp.Attempts)
		}},
		{"400 is a StatusError with the provider's message", func(t *testing.T, up *khivetest.Server, chat, _ *endpoint.Endpoint) {
			up.Script(khivetest.Fault{Kind: khivetest.Status, Status: 400})
			_, err := chat.Call(context.Background(), endpoint.Request{Body: chatBody})
			var se *endpoint.StatusError
			require.True(t, errors.As(err, &se), "%v", err)
			assert.Equal(t, 400, se.Status)
			assert.Equal(t, "fake upstream answered 400", se.Message)
			assert.Equal(t, 1, se.Attempts)
		}},
		{"429 hint above the cap", func(t *testing.T, up *khivetest.Server, chat, _ *endpoint.Endpoint) {
			up.Script(khivetest.Fault{Kind: khivetest.Status, Status: 429, Headers: map[string]string{"retry-after": "30"}})
			_, err := chat.Call(context.Background(), endpoint.Request{Body: chatBody})
			var se *endpoint.StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, 429, se.Status)
			assert.Equal(t, time.Second, se.RetryAfter, "told at most retry.max_retry_after")
		}},
		{"cut stream is an error", func(t *testing.T, up *khivetest.Server, chat, _ *endpoint.Endpoint) {
			up.Script(khivetest.Fault{Kind: khivetest.CutStream})
			body := map[string]any{"stream": true, "model": "m", "messages": []any{map[string]any{"role": "user", "content": "a b c"}}}
			s, err := chat.Stream(context.Background(), endpoint.Request{Body: body})
			require.NoError(t, err)
			defer s.Close()
			for s.Next() {
			}
			assert.Error(t, s.Err())
		}},
		{"connection reset is retried", func(t *testing.T, up *khivetest.Server, chat, _ *endpoint.Endpoint) {
			up.Script(khivetest.Fault{Kind: khivetest.ResetBefore})
			resp, err := chat.Call(context.Background(), endpoint.Request{Body: chatBody})
			require.NoError(t, err)
			assert.Equal(t, 2, resp.Attempts)
		}},
	}
	for _, transport := range []string{endpoint.TransportHTTP, endpoint.TransportSDK} {
		for _, c := range cases {
			t.Run(transport+"/"+c.name, func(t *testing.T) {
				up := khivetest.New()
				defer up.Close()
				up.Key = upstreamKey
				c.run(t, up, startOpenAI(t, up, "chat", transport), startOpenAI(t, up, "embeddings", transport))
			})
		}
	}
}

func mustString(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	require.NoError(t, json.Unmarshal(raw, &s))
	return s
}

// Anthropic's endpoints speak through anthropic-sdk-go with transport sdk,
// as OpenAI-compatible ones do through openai-go.
func TestAnthropicSDKTransport(t *testing.T) {
	up := khivetest.New()
	defer up.Close()
	cfg, err := providers.Match("anthropic", "messages", env(), providers.WithBaseURL(up.BaseURL()),
		providers.WithAPIKey(endpoint.NewSecret(upstreamKey)), providers.WithTransport(endpoint.TransportSDK))
	require.NoError(t, err)
	cfg.Retry = endpoint.RetryConfig{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
	e, err := providers.NewEndpoint(cfg)
	require.NoError(t, err)
	require.NoError(t, e.Start(context.Background()))
	defer e.Stop(context.Background())
	body := map[string]any{"model": "claude", "max_tokens": 16, "messages": []any{map[string]any{"role": "user", "content": "hello"}}}

	resp, err := e.Call(context.Background(), endpoint.Request{Body: body})
	require.NoError(t, err)
	var out anthropic.MessagesResponse
	require.NoError(t, resp.Decode(&out))
	require.NotEmpty(t, out.Content)
	assert.Equal(t, "echo: hello", out.Content[0].Text)
	h := up.Last().Header
	assert.Equal(t, upstreamKey, h.Get("X-Api-Key"))
	assert.Equal(t, providers.DefaultAnthropicVersion, h.Get("Anthropic-Version"))
	assert.Equal(t, "go", h.Get("X-Stainless-Lang"), "sent by anthropic-sdk-go")

	stream := map[string]any{"stream": true}
	for k, v := range body {
		stream[k] = v
	}
	s, err := e.Stream(context.Background(), endpoint.Request{Body: stream})
	require.NoError(t, err)
	var events []string
	for s.Next() {
		events = append(events, s.Event().Event)
	}
	require.NoError(t, s.Err())
	s.Close()
	assert.Contains(t, events, "message_stop")

	up.Script(khivetest.Fault{Kind: khivetest.Status, Status: anthropic.StatusOverloaded},
		khivetest.Fault{Kind: khivetest.Status, Status: anthropic.StatusOverloaded})
	_, err = e.Call(context.Background(), endpoint.Request{Body: body})
	var se *endpoint.StatusError
	require.ErrorAs(t, err, &se, "status errors come back through the SDK for the endpoint to handle")
	assert.Equal(t, anthropic.StatusOverloaded, se.Status)
	assert.True(t, se.Overloaded)
	assert.Equal(t, 2, se.Attempts, "the dialect retries 529")
}
