package endpoint

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEstimateTokens(t *testing.T) {
	for body, budget := range map[string]int{
		`{"model":"m","max_tokens":100}`:                              100,
		`{"model":"m","max_completion_tokens": 250, "max_tokens":10}`: 250,
		`{"messages":[{"content":"say \"max_tokens\": 999"}],"x":1}`:  0, // escaped inside a string
		`{"max_tokens" : 7}`:                                          7,
		`{"max_tokens":"lots"}`:                                       0,
		`{"nested":{"max_tokens":3}}`:                                 3,
	} {
		assert.Equal(t, (len(body)+3)/4+budget, estimateTokens([]byte(body)), body)
	}
	assert.Equal(t, 1, estimateTokens(nil))
}
