package gateway_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway"
	"github.com/khive-go/khive/khivetest"
)

func TestChatThroughAlias(t *testing.T) {
	e := newEnv(t)
	var raw *http.Response
	out, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "fast",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello gateway")},
	}, option.WithResponseInto(&raw), option.WithJSONSet("seed", 7), option.WithJSONSet("x_custom", map[string]any{"k": "v"}))
	require.NoError(t, err)
	assert.Equal(t, "echo: hello gateway", out.Choices[0].Message.Content)
	assert.Equal(t, "up", raw.Header.Get("X-Khive-Endpoint"))
	last := e.ups["up"].Last()
	assert.Equal(t, "gpt-4o-mini", last.Body["model"], "the upstream model is substituted")
	assert.Equal(t, float64(7), last.Body["seed"], "unknown fields pass through")
	assert.Equal(t, map[string]any{"k": "v"}, last.Body["x_custom"])
	assert.Equal(t, "Bearer "+upstreamKey, last.Header.Get("Authorization"), "the provider key goes upstream only")
	e.assertNoUpstreamKey()
}

func TestChatByEndpointAndProvider(t *testing.T) {
	e := newEnv(t)
	for model, want := range map[string]string{
		"other/llama-x":       "other", // ENDPOINT/MODEL
		"groq-like/llama-y":   "other", // PROVIDER/MODEL, one endpoint of that provider serves chat
		"up/gpt-4.1":          "up",
		"openai/gpt-4.1-mini": "up", // up-embed is openai too, but not chat
	} {
		status, h, body := e.post("/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"x"}]}`)
		require.Equal(t, http.StatusOK, status, body)
		assert.Equal(t, want, h.Get("X-Khive-Endpoint"), model)
		_, upstreamModel, _ := strings.Cut(model, "/")
		assert.Equal(t, upstreamModel, e.ups[want].Last().Body["model"])
	}
}

func TestStreamingChatWithUsage(t *testing.T) {
	e := newEnv(t)
	stream := e.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "fast",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream me please")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, "echo: stream me please", acc.Choices[0].Message.Content)
	assert.Positive(t, acc.Usage.TotalTokens, "the final usage chunk came through")
	assert.Greater(t, chunks, 3)
}

func TestEmbeddingsFloatAndBase64(t *testing.T) {
	e := newEnv(t)
	res, err := e.client().Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "emb", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"alpha", "beta"}},
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat,
	})
	require.NoError(t, err)
	require.Len(t, res.Data, 2)
	want := khivetest.Vector("beta")
	for i, f := range res.Data[1].Embedding {
		assert.InDelta(t, want[i], f, 1e-6)
	}

	// The npm client asks for base64 by default; the gateway encodes.
	status, _, body := e.post("/v1/embeddings", `{"model":"emb","input":"alpha","encoding_format":"base64"}`)
	require.Equal(t, http.StatusOK, status, body)
	var out struct {
		Data []struct{ Embedding string }
	}
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	raw, err := base64.StdEncoding.DecodeString(out.Data[0].Embedding)
	require.NoError(t, err)
	want = khivetest.Vector("alpha")
	require.Len(t, raw, 4*len(want))
	for i := range want {
		assert.Equal(t, want[i], math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
	}
	assert.Equal(t, "float", e.ups["up"].Last().Body["encoding_format"], "upstreams are asked for floats")
}

func TestModelsList(t *testing.T) {
	e := newEnv(t)
	page, err := e.client().Models.List(context.Background())
	require.NoError(t, err)
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	assert.Equal(t, []string{"emb", "fast", "smart", "up-embed/text-embedding-3-small", "up/gpt-4o-mini",
		"other/llama-3.3-70b-versatile", "claude/claude-sonnet-4-5", "up/gpt-4.1"}, ids)
}

func TestFallbackToTheSecondTarget(t *testing.T) {
	e := newEnv(t)
	e.ups["up"].Always(khivetest.Fault{Kind: khivetest.Status, Status: 503})
	var raw *http.Response
	out, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "fast", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("fall back")},
	}, option.WithResponseInto(&raw))
	require.NoError(t, err)
	assert.Equal(t, "echo: fall back", out.Choices[0].Message.Content)
	assert.Equal(t, "other", raw.Header.Get("X-Khive-Endpoint"))
	assert.Equal(t, "llama-3.3-70b-versatile", e.ups["other"].Last().Body["model"])
	assert.Equal(t, int64(2), e.ups["up"].Requests(), "the first target used its own retries first")

	// Streams fall back too, before the first byte.
	stream := e.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "fast", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream fall back")},
	})
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, "echo: stream fall back", acc.Choices[0].Message.Content)

	// A 400 is the caller's fault: no fallback.
	e.ups["up"].Always(khivetest.Fault{Kind: khivetest.Status, Status: 400})
	status, _, body := e.post("/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"x"}]}`)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "fake upstream answered 400", "the provider's message is kept")
}

func TestAuthFailures(t *testing.T) {
	e := newEnv(t)
	for _, key := range []string{"wrong", ""} {
		c := openai.NewClient(option.WithBaseURL(e.url("/v1/")), option.WithAPIKey(key), option.WithMaxRetries(0))
		_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "fast", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		})
		var apiErr *openai.Error
		require.True(t, errors.As(err, &apiErr), "%v", err)
		assert.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
		assert.Equal(t, "invalid_api_key", apiErr.Code)
	}
	assert.Zero(t, e.ups["up"].Requests(), "nothing reached the upstream")
	status, _ := e.get("/healthz")
	assert.Equal(t, http.StatusOK, status, "health needs no key")
}

func TestErrorCases(t *testing.T) {
	e := newEnv(t, func(_ *khive.Config, g *gateway.Config) { g.MaxBodyBytes = 1024 })
	e.ups["other"].Always(khivetest.Fault{Kind: khivetest.Status, Status: 422})
	for _, tt := range []struct {
		name, body string
		status     int
		typ, code  string
		param      string
		contains   string
	}{
		{"malformed JSON", `{"model":`, 400, "invalid_request_error", "", "", "could not parse the JSON body"},
		{"missing model", `{"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "", "model", "model"},
		{"missing messages", `{"model":"fast"}`, 400, "invalid_request_error", "", "messages", "messages"},
		{"body over the limit", `{"model":"fast","messages":[{"role":"user","content":"` + strings.Repeat("x", 2000) + `"}]}`, 413, "invalid_request_error", "request_too_large", "", "over 1024 bytes"},
		{"unknown model", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`, 404, "invalid_request_error", "model_not_found", "model", "nope"},
		{"unknown endpoint prefix", `{"model":"nope/gpt","messages":[{"role":"user","content":"x"}]}`, 404, "invalid_request_error", "model_not_found", "model", ""},
		{"upstream error keeps status and message", `{"model":"other/m","messages":[{"role":"user","content":"x"}]}`, 422, "invalid_request_error", "", "", "fake upstream answered 422"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := e.post("/v1/chat/completions", tt.body)
			assert.Equal(t, tt.status, status, body)
			var eb struct {
				Error struct {
					Message string
					Type    string
					Code    *string
					Param   *string
				}
			}
			require.NoError(t, json.Unmarshal([]byte(body), &eb), body)
			assert.Equal(t, tt.typ, eb.Error.Type)
			assert.Contains(t, eb.Error.Message, tt.contains)
			if tt.code != "" {
				require.NotNil(t, eb.Error.Code)
				assert.Equal(t, tt.code, *eb.Error.Code)
			}
			if tt.param != "" {
				require.NotNil(t, eb.Error.Param)
				assert.Equal(t, tt.param, *eb.Error.Param)
			}
		})
	}
	e.assertNoUpstreamKey()
}

func TestUpstreamTimeoutIs504(t *testing.T) {
	e := newEnv(t, func(_ *khive.Config, g *gateway.Config) { g.RequestTimeout = 200 * time.Millisecond })
	e.ups["up"].Always(khivetest.Fault{Kind: khivetest.Hang})
	status, _, body := e.post("/v1/chat/completions", `{"model":"up/m","messages":[{"role":"user","content":"x"}]}`)
	assert.Equal(t, http.StatusGatewayTimeout, status, body)
	assert.Contains(t, body, `"type":"timeout"`)
}

func TestRateLimitedUpstreamKeepsRetryAfter(t *testing.T) {
	// A hint over the endpoint's retry.max_retry_after (60 s) is not waited
	// for; it is passed on capped there, as the endpoint's own pause is.
	for _, tt := range []struct{ sent, want string }{
		{"120", "60"},
		{"99999999", "60"},
	} {
		e := newEnv(t)
		e.ups["other"].Always(khivetest.Fault{Kind: khivetest.Status, Status: 429, Headers: map[string]string{"retry-after": tt.sent}})
		status, h, body := e.post("/v1/chat/completions", `{"model":"other/m","messages":[{"role":"user","content":"x"}]}`)
		assert.Equal(t, http.StatusTooManyRequests, status, body)
		assert.Equal(t, tt.want, h.Get("Retry-After"), "sent %s", tt.sent)
	}
}

func TestHealthReadyAndMetrics(t *testing.T) {
	e := newEnv(t)
	status, _ := e.get("/readyz")
	assert.Equal(t, http.StatusOK, status)
	e.post("/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"x"}]}`)
	e.post("/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`)
	status, body := e.get("/metrics")
	require.Equal(t, http.StatusOK, status)
	for _, want := range []string{
		`khive_gateway_requests_total{endpoint="up",model="fast",route="chat",status="200"} 1`,
		`khive_gateway_requests_total{endpoint="",model="other",route="chat",status="404"} 1`,
		`khive_gateway_request_duration_seconds_bucket{route="chat"`,
		`khive_gateway_upstream_duration_seconds_bucket{endpoint="up"`,
		`khive_gateway_in_flight_requests 0`,
		`khive_gateway_upstream_retries_total{endpoint="up"} 0`,
		`khive_gateway_breaker_state{endpoint="other"} 0`,
		`khive_gateway_limiter_wait_seconds_total{endpoint="up"} 0`,
	} {
		assert.Contains(t, body, want)
	}
	access := e.logs.FilterMessage("request").All()
	require.NotEmpty(t, access)
	f := access[0].ContextMap()
	for _, k := range []string{"method", "route", "model", "endpoint", "status", "duration", "upstream_duration", "attempts"} {
		assert.Contains(t, f, k)
	}
	assert.Equal(t, "fast", f["model"])
	assert.Equal(t, "up", f["endpoint"])
}

// The access log is a line per request, without a caller; access_log:
// false turns it off (metrics still count the request).
func TestAccessLogSwitch(t *testing.T) {
	body := `{"model":"up/gpt-x","messages":[{"role":"user","content":"x"}]}`
	e := newEnv(t)
	status, _, _ := e.post("/v1/chat/completions", body)
	require.Equal(t, http.StatusOK, status)
	lines := e.logs.FilterMessage("request").All()
	require.Len(t, lines, 1)
	assert.False(t, lines[0].Caller.Defined, "no caller captured")

	off := false
	e = newEnv(t, func(_ *khive.Config, g *gateway.Config) { g.AccessLog = &off })
	status, _, _ = e.post("/v1/chat/completions", body)
	require.Equal(t, http.StatusOK, status)
	assert.Zero(t, e.logs.FilterMessage("request").Len())
	_, metrics := e.get("/metrics")
	assert.Contains(t, metrics, `khive_gateway_requests_total{endpoint="up",model="up",route="chat",status="200"} 1`)
}
