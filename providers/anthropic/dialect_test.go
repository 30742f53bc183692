package anthropic_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/khive-go/khive/providers/anthropic"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAnswerReadsMessagesAndStreamEvents(t *testing.T) {
	a := anthropic.Dialect.Answer([]byte(`{"id":"msg_1","model":"claude-x","stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":7}}`))
	assert.Equal(t, "msg_1", a.ID)
	assert.Equal(t, []string{"end_turn"}, a.FinishReasons)
	assert.Equal(t, 12, a.InputTokens)
	assert.Equal(t, 7, a.OutputTokens)

	start := anthropic.Dialect.Answer([]byte(`{"type":"message_start","message":{"id":"msg_2","model":"claude-x","usage":{"input_tokens":30,"output_tokens":1}}}`))
	assert.Equal(t, "msg_2", start.ID)
	assert.Equal(t, 30, start.InputTokens, "message_start nests the message and its input tokens")

	delta := anthropic.Dialect.Answer([]byte(`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}`))
	assert.Equal(t, 15, delta.OutputTokens)
}

func TestDialectCountsCachedInputAsInput(t *testing.T) {
	a := anthropic.Dialect.Answer([]byte(`{"id":"msg_3","usage":{"input_tokens":100,"cache_read_input_tokens":5000,"cache_creation_input_tokens":2000,"output_tokens":30}}`))
	assert.Equal(t, 7100, a.InputTokens, "every input token, cached ones included")
	assert.Equal(t, 5000, a.CachedInputTokens)
	assert.Equal(t, 2000, a.CacheWriteTokens)
	start := anthropic.Dialect.Answer([]byte(`{"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":90,"output_tokens":1}}}`))
	assert.Equal(t, 100, start.InputTokens)
	assert.Equal(t, 90, start.CachedInputTokens)
}
