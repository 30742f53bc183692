package providers_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/khivetest"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/anthropic"
	khiveopenai "github.com/khive-go/khive/providers/openai"
)

// typedSDK is one official SDK's typed client on an endpoint, as its users
// call it: a plain call, and a stream read to its end with the SDK's own
// accumulator (closed by the caller).
type typedSDK struct {
	name     string
	provider string
	endpoint string
	style    khivetest.HeaderStyle
	call     func(ctx context.Context, e *endpoint.Endpoint) (string, error)
	stream   func(ctx context.Context, e *endpoint.Endpoint) (text string, close func() error, err error)
	open     func(ctx context.Context, e *endpoint.Endpoint) sdkStream
}

// sdkStream is what both SDKs' streams have.
type sdkStream interface {
	Next() bool
	Err() error
	Close() error
}

var typedSDKs = []typedSDK{
	{
		name: "openai-go", provider: "openai", endpoint: "chat", style: khivetest.OpenAIStyle,
		call: func(ctx context.Context, e *endpoint.Endpoint) (string, error) {
			out, err := khiveopenai.ClientOf(e).Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model:    "gpt-4o-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("typed hello")},
			})
			if err != nil {
				return "", err
			}
			return out.Choices[0].Message.Content, nil
		},
		stream: func(ctx context.Context, e *endpoint.Endpoint) (string, func() error, error) {
			s := khiveopenai.ClientOf(e).Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model:    "gpt-4o-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("typed hello")},
			})
			var acc openai.ChatCompletionAccumulator
			for s.Next() {
				acc.AddChunk(s.Current())
			}
			if err := s.Err(); err != nil {
				s.Close()
				return "", nil, err
			}
			if len(acc.Choices) == 0 {
				s.Close()
				return "", nil, fmt.Errorf("no choices accumulated")
			}
			return acc.Choices[0].Message.Content, s.Close, nil
		},
		open: func(ctx context.Context, e *endpoint.Endpoint) sdkStream {
			return khiveopenai.ClientOf(e).Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model:    "gpt-4o-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("typed hello")},
			})
		},
	},
	{
		name: "anthropic-sdk-go", provider: "anthropic", endpoint: "messages", style: khivetest.AnthropicStyle,
		call: func(ctx context.Context, e *endpoint.Endpoint) (string, error) {
			msg, err := anthropic.ClientOf(e).Messages.New(ctx, sdk.MessageNewParams{
				Model: "claude-test", MaxTokens: 64,
				Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("typed hello"))},
			})
			if err != nil {
				return "", err
			}
			return msg.Content[0].Text, nil
		},
		stream: func(ctx context.Context, e *endpoint.Endpoint) (string, func() error, error) {
			s := anthropic.ClientOf(e).Messages.NewStreaming(ctx, sdk.MessageNewParams{
				Model: "claude-test", MaxTokens: 64,
				Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("typed hello"))},
			})
			var msg sdk.Message
			for s.Next() {
				if err := msg.Accumulate(s.Current()); err != nil {
					s.Close()
					return "", nil, err
				}
			}
			if err := s.Err(); err != nil {
				s.Close()
				return "", nil, err
			}
			if len(msg.Content) == 0 {
				s.Close()
				return "", nil, fmt.Errorf("no content accumulated")
			}
			return msg.Content[0].Text, s.Close, nil
		},
		open: func(ctx context.Context, e *endpoint.Endpoint) sdkStream {
			return anthropic.ClientOf(e).Messages.NewStreaming(ctx, sdk.MessageNewParams{
				Model: "claude-test", MaxTokens: 64,
				Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("typed hello"))},
			})
		},
	},
}

func startTyped(t *testing.T, up *khivetest.Server, c typedSDK, transport string, edit func(*endpoint.Config), opts ...endpoint.Option) *endpoint.Endpoint {
	t.Helper()
	cfg, err := providers.Match(c.provider, c.endpoint, env(),
		providers.WithBaseURL(up.BaseURL()), providers.WithAPIKey(endpoint.NewSecret(upstreamKey)),
		providers.WithTransport(transport))
	require.NoError(t, err)
	cfg.Retry = endpoint.RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxRetryAfter: time.Second}
	if edit != nil {
		edit(&cfg)
	}
	e, err := providers.NewEndpoint(cfg, opts...)
	require.NoError(t, err)
	require.NoError(t, e.Start(context.Background()))
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	return e
}

// Every call of the typed clients is one call of the endpoint, on either
// transport, plain or streamed.
func TestTypedClientsAreManaged(t *testing.T) {
	cases := []struct {
		name string
		edit func(*endpoint.Config)
		run  func(t *testing.T, c typedSDK, up *khivetest.Server, e *endpoint.Endpoint, cnt *khivetest.Counting)
		// counted gives the endpoint khivetest.Counting as its round
		// tripper (in cnt), to see what it lets out.
		counted bool
	}{
		{"plain and streamed", nil, func(t *testing.T, c typedSDK, up *khivetest.Server, e *endpoint.Endpoint, cnt *khivetest.Counting) {
			text, err := c.call(context.Background(), e)
			require.NoError(t, err)
			assert.Equal(t, "echo: typed hello", text)
			text, closeStream, err := c.stream(context.Background(), e)
			require.NoError(t, err)
			require.NoError(t, closeStream())
			assert.Equal(t, "echo: typed hello", text, "the SDK's accumulator read the stream")
			assert.Equal(t, "go", up.Last().Header.Get("X-Stainless-Lang"), "the SDK built the request")
		}, false},
		{"a 429 with Retry-After is retried once, by khive", nil, func(t *testing.T, c typedSDK, up *khivetest.Server, e *endpoint.Endpoint, cnt *khivetest.Counting) {
			for _, streamed := range []bool{false, true} {
				before, sent := e.Retries(), up.Requests()
				up.Script(khivetest.Fault{Kind: khivetest.Status, Status: 429, Headers: map[string]string{"Retry-After-Ms": "5"}})
				var err error
				if streamed {
					var closeStream func() error
					_, closeStream, err = c.stream(context.Background(), e)
					if err == nil {
						closeStream()
					}
				} else {
					_, err = c.call(context.Background(), e)
				}
				require.NoError(t, err, "streamed=%v", streamed)
				assert.EqualValues(t, 2, up.Requests()-sent, "streamed=%v: the 429 and one retry", streamed)
				assert.EqualValues(t, 1, e.Retries()-before, "streamed=%v: the retry was khive's", streamed)
				assert.Equal(t, "0", up.Last().Header.Get("X-Stainless-Retry-Count"), "streamed=%v: the SDK retried nothing", streamed)
			}
		}, false},
		{"a final error status is the SDK's own error", func(c *endpoint.Config) { c.Retry.MaxAttempts = 1 },
			func(t *testing.T, c typedSDK, up *khivetest.Server, e *endpoint.Endpoint, cnt *khivetest.Counting) {
				up.Script(khivetest.Fault{Kind: khivetest.Status, Status: 400})
				_, err := c.call(context.Background(), e)
				require.Error(t, err)
				switch c.name {
				case "openai-go":
					var apiErr *openai.Error
					require.ErrorAs(t, err, &apiErr)
					assert.Equal(t, 400, apiErr.StatusCode)
				default:
					var apiErr *sdk.Error
					require.ErrorAs(t, err, &apiErr)
					assert.Equal(t, 400, apiErr.StatusCode)
				}
				assert.NotContains(t, err.Error(), upstreamKey)
			}, false},
		{"20 concurrent calls at max_concurrency 2; a stream holds its slot until closed",
			func(c *endpoint.Config) { c.Limits.MaxConcurrency, c.Limits.QueueSize = 2, 32 },
			func(t *testing.T, c typedSDK, up *khivetest.Server, e *endpoint.Endpoint, cnt *khivetest.Counting) {
				up.SetLatency(5 * time.Millisecond)
				var wg sync.WaitGroup
				errs := make(chan error, 20)
				for i := range 20 {
					wg.Go(func() {
						if i%4 == 0 {
							_, closeStream, err := c.stream(context.Background(), e)
							if err == nil {
								err = closeStream()
							}
							errs <- err
							return
						}
						_, err := c.call(context.Background(), e)
						errs <- err
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					require.NoError(t, err)
				}
				assert.LessOrEqual(t, cnt.Peak(), int64(2), "never more than max_concurrency out at once")
				assert.EqualValues(t, 20, up.Requests())

				up.SetLatency(0)
				s := c.open(context.Background(), e)
				require.True(t, s.Next(), "%v", s.Err())
				assert.EqualValues(t, 1, e.Stats().Running, "open: the slot is held")
				require.NoError(t, s.Close())
				assert.EqualValues(t, 0, e.Stats().Running, "closed: the slot is free")
			}, true},
		{"max_wait sheds with ErrOverloaded when the rate limit is full",
			func(c *endpoint.Config) {
				c.Limits.RequestsPerSecond, c.Limits.Burst, c.Limits.MaxWait = 1, 1, 50*time.Millisecond
			},
			func(t *testing.T, c typedSDK, up *khivetest.Server, e *endpoint.Endpoint, cnt *khivetest.Counting) {
				_, err := c.call(context.Background(), e)
				require.NoError(t, err)
				_, err = c.call(context.Background(), e)
				require.ErrorIs(t, err, executor.ErrOverloaded)
				_, _, err = c.stream(context.Background(), e)
				require.ErrorIs(t, err, executor.ErrOverloaded)
				assert.EqualValues(t, 1, up.Requests())
			}, false},
		{"after Stop a typed call fails with ErrClosed", nil, func(t *testing.T, c typedSDK, up *khivetest.Server, e *endpoint.Endpoint, cnt *khivetest.Counting) {
			require.NoError(t, e.Stop(context.Background()))
			_, err := c.call(context.Background(), e)
			require.ErrorIs(t, err, endpoint.ErrClosed)
			_, _, err = c.stream(context.Background(), e)
			require.ErrorIs(t, err, endpoint.ErrClosed)
			assert.EqualValues(t, 0, up.Requests())
		}, false},
		{"the adaptive limiter learns from the headers the typed calls see", func(c *endpoint.Config) { c.Limits.Adaptive = true },
			func(t *testing.T, c typedSDK, up *khivetest.Server, e *endpoint.Endpoint, cnt *khivetest.Counting) {
				// A bucket of 10: a provider's remaining is rounded down, so
				// each answer of a bucket of 4 says its level to within a
				// third of what is missing, and a run of 12 calls can learn
				// a refill a fifth too fast.
				up.Enforce(40, 10)
				up.SetHeaderStyle(c.style)
				assert.True(t, math.IsInf(e.RequestRate(), 1), "nothing learned yet")
				for range 20 {
					_, err := c.call(context.Background(), e)
					require.NoError(t, err)
				}
				assert.Positive(t, e.RequestRate())
				assert.LessOrEqual(t, e.RequestRate(), 40.0, "the provider's bucket, learned")
				assert.Zero(t, up.Limited(), "no call ran into the provider's 429")
			}, false},
	}
	for _, c := range typedSDKs {
		for _, transport := range []string{endpoint.TransportHTTP, endpoint.TransportSDK} {
			for _, tc := range cases {
				t.Run(strings.Join([]string{c.name, transport, tc.name}, "/"), func(t *testing.T) {
					up := khivetest.New()
					defer up.Close()
					up.Key = upstreamKey
					cnt := &khivetest.Counting{}
					var opts []endpoint.Option
					if tc.counted {
						opts = append(opts, endpoint.WithRoundTripper(cnt))
					}
					tc.run(t, c, up, startTyped(t, up, c, transport, tc.edit, opts...), cnt)
				})
			}
		}
	}
}
