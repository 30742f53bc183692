package gateway

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/app/gateway/admission"
)

func TestClientKeysAndStoreFromYAML(t *testing.T) {
	var c Config
	require.NoError(t, yaml.Unmarshal([]byte(`
keys:
  - plain-key
  - {name: team-a, key: team-a-key, max_concurrency: 4}
store: {type: redis, url: "redis://127.0.0.1:6379", lease_ttl: 5s}
`), &c))
	assert.Equal(t, []admission.ClientKey{{Key: "plain-key"}, {Key: "team-a-key", Name: "team-a", MaxConcurrency: 4}}, c.Keys)
	assert.Equal(t, "5s", c.Store.LeaseTTL.String())
}

func TestKeyAndStoreErrorsNamedUnderGateway(t *testing.T) {
	c := Config{Listen: "127.0.0.1:0", Keys: []admission.ClientKey{{Key: "k", SHA256: "ab"}, {Key: "k2", RequestsPerMinute: -1}},
		Store: admission.StoreConfig{Type: "redis", URL: "http://:hunter2@x", LeaseTTL: 1}}
	err := c.Validate(nil)
	var paths []string
	for _, fe := range khive.FieldErrors(err) {
		paths = append(paths, fe.Path)
	}
	assert.ElementsMatch(t, []string{"gateway.keys[0]", "gateway.keys[0].sha256", "gateway.keys[1].requests_per_minute",
		"gateway.store.url", "gateway.store.lease_ttl"}, paths)
	assert.NotContains(t, err.Error(), "k2")
	assert.NotContains(t, err.Error(), "hunter2")
}
