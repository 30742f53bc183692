package endpoint_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/khive-go/khive/endpoint"
)

const testKey = "sk-test-0123456789abcdef"

func TestValidateReportsEveryField(t *testing.T) {
	err := endpoint.Config{
		Transport: "carrier-pigeon",
		Auth:      "magic",
		BaseURL:   "/relative",
		Timeout:   -time.Second,
		Retry:     endpoint.RetryConfig{MaxAttempts: -1, BaseDelay: -1},
		Breaker:   endpoint.BreakerConfig{FailureRate: 2, OpenFor: -1},
		Cache:     endpoint.CacheConfig{TTL: -1},
		Limits:    endpoint.Limits{RequestsPerMinute: 60, MaxConcurrency: -1},
	}.Validate()
	require.Error(t, err)
	for _, want := range []string{
		"name: is required", `transport: unknown "carrier-pigeon"`, `auth: unknown "magic"`,
		"api_key: is required", "base_url: must be an absolute", "timeout: must be >= 0",
		"retry.max_attempts:", "retry.base_delay:", "breaker.failure_rate:", "breaker.open_for:",
		"cache.ttl:", "limits.max_concurrency:", "limits.burst: must be >= 1",
	} {
		assert.ErrorContains(t, err, want)
	}
}

func TestValidateURLRules(t *testing.T) {
	base := endpoint.Config{Name: "x", APIKey: endpoint.NewSecret(testKey)}
	cases := map[string]string{
		"http://example.com/v1":          "needs allow_insecure",
		"ftp://example.com":              "scheme must be http or https",
		"https://user:pw@example.com":    "must not carry credentials",
		"https://api.example.com/v1":     "",
		"http://127.0.0.1:9000/v1":       "",
		"http://localhost:11434/v1":      "",
		"http://[::1]:8080":              "",
		"https://exa mple.com/%zz?q=x y": "not a URL",
	}
	for u, want := range cases {
		c := base
		c.BaseURL = u
		err := c.Validate()
		if want == "" {
			assert.NoError(t, err, u)
			continue
		}
		assert.ErrorContains(t, err, want, u)
		assert.NotContains(t, err.Error(), "pw", "no credentials in errors")
	}
	c := base
	c.BaseURL, c.AllowInsecure = "http://example.com/v1", true
	assert.NoError(t, c.Validate())
	c = endpoint.Config{Name: "x", BaseURL: "http://127.0.0.1", Auth: endpoint.AuthNone}
	assert.NoError(t, c.Validate(), "auth none needs no key")
	c = endpoint.Config{Name: "x", BaseURL: "http://127.0.0.1", Auth: endpoint.AuthHeader, APIKey: endpoint.NewSecret("k")}
	assert.ErrorContains(t, c.Validate(), "auth_header: is required")
	c = endpoint.Config{Name: "x", BaseURL: "http://127.0.0.1", APIKey: endpoint.NewSecret("k"), Limits: endpoint.Limits{Adaptive: true}}
	assert.NoError(t, c.Validate(), "adaptive needs no ceiling: it learns the provider's bucket")
}

func TestNewNeedsSDKFactoryForSDKTransport(t *testing.T) {
	_, err := endpoint.New(endpoint.Config{Name: "s", Transport: "sdk", BaseURL: "http://127.0.0.1", Auth: "none"})
	assert.ErrorContains(t, err, `endpoint "s": transport sdk needs an SDK factory`)
}

func TestSecretNeverPrints(t *testing.T) {
	s := endpoint.NewSecret(testKey)
	cfg := endpoint.Config{Name: "n", BaseURL: "https://x", APIKey: s}
	type wrapper struct{ cfg endpoint.Config } // unexported field: fmt cannot call methods
	for _, out := range []string{
		s.String(), fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s, s, s),
		fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg),
		fmt.Sprintf("%+v", wrapper{cfg}), fmt.Sprintf("%#v", &wrapper{cfg}),
	} {
		assert.NotContains(t, out, testKey)
		assert.NotContains(t, out, "0123456789")
	}
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	assert.NotContains(t, string(b), testKey)
	assert.Contains(t, string(b), `"api_key":"[redacted]"`)

	var buf bytes.Buffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zap.DebugLevel))
	log.Info("cfg", zap.Any("secret", s), zap.Any("cfg", cfg), zap.Stringer("s", s), zap.Reflect("r", cfg))
	require.Contains(t, buf.String(), `"secret":"[redacted]"`)
	assert.NotContains(t, buf.String(), testKey)
	assert.Equal(t, testKey, s.Reveal())
	var back endpoint.Secret
	require.NoError(t, json.Unmarshal([]byte(`"abc"`), &back))
	assert.Equal(t, "abc", back.Reveal())
	assert.True(t, endpoint.Secret{}.IsZero())
}

func TestNoKeyReachableByFormatting(t *testing.T) {
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"}
	for _, auth := range []string{endpoint.AuthBearer, endpoint.AuthXAPIKey, endpoint.AuthHeader} {
		t.Run(auth, func(t *testing.T) {
			cfg := endpoint.Config{Name: "fmt", Provider: "openai", BaseURL: "https://api.example.com/v1",
				Auth: auth, AuthHeaderName: "X-Custom-Key", APIKey: endpoint.NewSecret(testKey)}
			e, err := endpoint.New(cfg)
			require.NoError(t, err)
			for _, v := range []any{e, []*endpoint.Endpoint{e}, map[string]*endpoint.Endpoint{"x": e}, struct{ E *endpoint.Endpoint }{e}} {
				for _, verb := range verbs {
					out := fmt.Sprintf(verb, v)
					assert.NotContains(t, out, testKey, "%s of %T", verb, v)
					assert.NotContains(t, out, fmt.Sprintf("%x", testKey), "%s of %T (hex)", verb, v)
				}
				b, err := json.Marshal(v)
				require.NoError(t, err)
				assert.NotContains(t, string(b), testKey, "json of %T", v)
			}
			assert.Contains(t, fmt.Sprint(e), `endpoint "fmt"`, "still says which endpoint it is")
		})
	}
}

func TestSecretScrub(t *testing.T) {
	long := endpoint.NewSecret("sk-live-0123456789")
	assert.Equal(t, "bad key [redacted], and again:[redacted]!", long.Scrub("bad key sk-live-0123456789, and again:sk-live-0123456789!"))
	assert.Equal(t, "x[redacted]y", long.Scrub("xsk-live-0123456789y"), "a key-length secret is scrubbed wherever it occurs")

	short := endpoint.NewSecret("k")
	assert.Equal(t, "fake upstream answered 529", short.Scrub("fake upstream answered 529"), "a short secret never mangles words")
	assert.Equal(t, `key "[redacted]" refused; [redacted]`, short.Scrub(`key "k" refused; k`), "but is scrubbed where it stands alone")
	assert.Equal(t, "nothing here", endpoint.Secret{}.Scrub("nothing here"))
}

// A provider that echoes a short key in its error does not get its
// message mangled, and the key itself is scrubbed.
func TestStatusErrorScrubsWholeKeysOnly(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"type":"invalid_request_error","message":"fake upstream refused key k"}}`)
	})
	cfg := baseConfig(u)
	cfg.APIKey = endpoint.NewSecret("k")
	e := start(t, cfg)
	_, err := e.Call(context.Background(), endpoint.Request{})
	var se *endpoint.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "fake upstream refused key [redacted]", se.Message)
}
