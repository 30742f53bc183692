package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/khive-go/khive/executor"
)

func TestClientKeysFromYAML(t *testing.T) {
	var c Config
	require.NoError(t, yaml.Unmarshal([]byte(`
keys:
  - plain-key
  - name: team-a
    key: team-a-key
    models: [fast, "up/*"]
    requests_per_minute: 600
    max_concurrency: 4
`), &c))
	require.Len(t, c.Keys, 2)
	assert.Equal(t, ClientKey{Key: "plain-key"}, c.Keys[0])
	assert.Equal(t, ClientKey{Key: "team-a-key", Name: "team-a", Models: []string{"fast", "up/*"}, RequestsPerMinute: 600, MaxConcurrency: 4}, c.Keys[1])
	assert.NotContains(t, c.Keys[1].String(), "team-a-key")

	err := yaml.Unmarshal([]byte("keys:\n  - {key: k, requests_per_second: 3}\n"), &c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "requests_per_second")
}

func TestClientKeyValidation(t *testing.T) {
	c := Config{Listen: "127.0.0.1:0", Keys: []ClientKey{
		{Key: "k", SHA256: "ab"},
		{SHA256: "not-hex"},
		{Name: "nobody"},
		{Key: "k2", RequestsPerMinute: -1, MaxConcurrency: -2, Models: []string{"fa*st"}},
	}}
	err := c.Validate(nil)
	require.Error(t, err)
	var fields []string
	for _, fe := range executor.Unjoin(err) {
		var f *executor.FieldError
		if assert.ErrorAs(t, fe, &f) {
			fields = append(fields, f.Path)
		}
	}
	assert.ElementsMatch(t, []string{"gateway.keys[0]", "gateway.keys[0].sha256", "gateway.keys[1].sha256", "gateway.keys[2]",
		"gateway.keys[3].requests_per_minute", "gateway.keys[3].max_concurrency", "gateway.keys[3].models[0]"}, fields)
	assert.NotContains(t, err.Error(), "k2")
}

func TestClientKeyRequestRateInFakeTime(t *testing.T) {
	k := newClientKeys([]ClientKey{{Key: "k", RequestsPerMinute: 120}})[0] // 2/s, burst 2
	t0 := time.Unix(1_000_000, 0)
	require.Nil(t, k.admit(t0, 0))
	require.Nil(t, k.admit(t0, 0))
	refused := k.admit(t0, 0)
	require.NotNil(t, refused)
	assert.Equal(t, http.StatusTooManyRequests, refused.status)
	assert.Equal(t, "500", refused.header.Get("Retry-After-Ms"))
	assert.Equal(t, "1", refused.header.Get("Retry-After"))
	assert.NotNil(t, k.admit(t0.Add(499*time.Millisecond), 0), "a refusal takes no token")
	assert.Nil(t, k.admit(t0.Add(500*time.Millisecond), 0))

	// Over a minute at the limit exactly 120 more are admitted.
	admitted := 0
	for i := 1; i <= 6000; i++ { // every 10 ms
		if k.admit(t0.Add(500*time.Millisecond+time.Duration(i)*10*time.Millisecond), 0) == nil {
			admitted++
		}
	}
	assert.Equal(t, 120, admitted)
}

func TestClientKeyConcurrency(t *testing.T) {
	k := newClientKeys([]ClientKey{{Key: "k", MaxConcurrency: 2}})[0]
	now := time.Now()
	require.Nil(t, k.admit(now, 0))
	require.Nil(t, k.admit(now, 0))
	refused := k.admit(now, 0)
	require.NotNil(t, refused)
	assert.Equal(t, "key_concurrency", refused.code)
	k.release()
	assert.Nil(t, k.admit(now, 0), "a released slot is free again")
}

func TestClientKeyModelPatterns(t *testing.T) {
	k := &clientKey{name: "k", models: []string{"fast", "up/*"}}
	for model, want := range map[string]bool{"fast": true, "up/gpt-4o": true, "up/": true, "upx/gpt": false, "slow": false, "fast/x": false} {
		assert.Equal(t, want, k.allows(model), model)
	}
	assert.True(t, (&clientKey{models: []string{"*"}}).allows("anything"))
	assert.True(t, (*clientKey)(nil).allows("anything"), "no auth: no model list")
}
