package admission

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestClientKeysFromYAML(t *testing.T) {
	var keys []ClientKey
	require.NoError(t, yaml.Unmarshal([]byte(`
- plain-key
- name: team-a
  key: team-a-key
  models: [fast, "up/*"]
  requests_per_minute: 600
  max_concurrency: 4
`), &keys))
	require.Len(t, keys, 2)
	assert.Equal(t, ClientKey{Key: "plain-key"}, keys[0])
	assert.Equal(t, ClientKey{Key: "team-a-key", Name: "team-a", Models: []string{"fast", "up/*"}, RequestsPerMinute: 600, MaxConcurrency: 4}, keys[1])
	assert.NotContains(t, keys[1].String(), "team-a-key")

	err := yaml.Unmarshal([]byte("- {key: k, requests_per_second: 3}\n"), &keys)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "requests_per_second")
}

func TestValidateKeysNamesEveryField(t *testing.T) {
	err := ValidateKeys([]ClientKey{
		{Key: "k", SHA256: "ab"},
		{SHA256: "not-hex"},
		{Name: "nobody"},
		{Key: "k2", Name: "dup", RequestsPerMinute: -1, MaxConcurrency: -2, TokensPerMinute: -3, Models: []string{"fa*st"}},
		{Key: "k3", Name: "dup"},
	}, nil)
	assert.ElementsMatch(t, []string{"keys[0]", "keys[0].sha256", "keys[1].sha256", "keys[2]",
		"keys[3].requests_per_minute", "keys[3].max_concurrency", "keys[3].tokens_per_minute", "keys[3].models[0]", "keys[4].name"}, errorsOf(err))
	assert.NotContains(t, err.Error(), "k2")
	assert.NoError(t, ValidateKeys(Keys("a", "b"), nil))
}

func TestKeyringFindsByHashAndNamesUnnamedKeys(t *testing.T) {
	sum := sha256.Sum256([]byte("hashed-key"))
	r := NewKeyring([]ClientKey{{Key: "plain"}, {}, {SHA256: hex.EncodeToString(sum[:]), Name: "ops"}}, nil)
	assert.Equal(t, 2, r.Len(), "an entry whose ${VAR} was unset holds no key")
	assert.Equal(t, "key-1", r.Find("plain").Name())
	assert.Equal(t, "ops", r.Find("hashed-key").Name(), "a sha256 entry matches the key it hashes")
	assert.Nil(t, r.Find("plainx"))
	assert.Nil(t, r.Find(""))
}

func TestKeyModelPatterns(t *testing.T) {
	k := &Key{name: "k", models: []string{"fast", "up/*"}}
	for model, want := range map[string]bool{"fast": true, "up/gpt-4o": true, "up/": true, "upx/gpt": false, "slow": false, "fast/x": false} {
		assert.Equal(t, want, k.Allows(model), model)
	}
	assert.True(t, (&Key{models: []string{"*"}}).Allows("anything"))
	assert.True(t, (&Key{}).Allows("anything"), "no model list: every model")
	assert.True(t, (*Key)(nil).Allows("anything"), "no auth: no model list")
}

func TestValidateBudgetsAndTeams(t *testing.T) {
	err := ValidateKeys([]ClientKey{
		{Key: "a", Team: "nobody"},
		{Key: "b", Budget: &Budget{USD: -1, Period: "year"}},
		{Key: "c", Team: "research", Budget: &Budget{USD: 5, Period: "week"}, Admin: true},
		{Name: "no-key", Admin: true},
	}, []Team{{Name: "research", Budget: &Budget{USD: 10, Period: "month"}}, {Name: "research"}, {Budget: &Budget{Period: "day"}}})
	assert.ElementsMatch(t, []string{"keys[0].team", "keys[1].budget.usd", "keys[1].budget.period", "keys[3]",
		"teams[1].name", "teams[2].name"}, errorsOf(err))
	r := NewKeyring([]ClientKey{{Key: "c", Team: "research", Budget: &Budget{USD: 5, Period: "week"}, Admin: true}, {Key: "d"}},
		[]Team{{Name: "research", Budget: &Budget{USD: 10, Period: "month"}}})
	c, d := r.Find("c"), r.Find("d")
	assert.True(t, c.Admin())
	assert.True(t, c.Budgeted())
	assert.Equal(t, "research", c.Team())
	assert.False(t, d.Admin())
	assert.False(t, d.Budgeted())
	assert.Len(t, r.budgets(), 2, "c's own and the team's")
}
