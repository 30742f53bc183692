package main

import (
	"context"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"go.uber.org/fx"

	"github.com/khive-go/khive"
	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/executor"
	khiveanthropic "github.com/khive-go/khive/providers/anthropic"
	khiveopenai "github.com/khive-go/khive/providers/openai"
)

// Module is the service with khive. The keys come from OPENAI_API_KEY and
// ANTHROPIC_API_KEY (the catalog's); an empty base URL is the catalog's.
var Module = fx.Options(khive.ConfigYAML(`
executor: {max_concurrency: 8, requests_per_second: 100, burst: 8}
endpoints:
  chat: {provider: openai, endpoint: chat, base_url: "${OPENAI_BASE_URL:-}"}
  claude: {provider: anthropic, endpoint: messages, base_url: "${ANTHROPIC_BASE_URL:-}"}
`), khive.Module, khive.Named("chat", "claude"),
	fx.Provide(fx.Annotate(NewService, fx.ParamTags(`name:"chat"`, `name:"claude"`))))

// Service answers questions through two providers' official SDKs; every
// call is limited, retried, broken and drained by khive.
type Service struct {
	chat   *openai.Client
	claude *anthropic.Client
	exec   executor.Executor
}

// NewService builds the service on its two endpoints and khive's executor.
func NewService(chat, claude *endpoint.Endpoint, exec executor.Executor) *Service {
	return &Service{chat: khiveopenai.ClientOf(chat), claude: khiveanthropic.ClientOf(claude), exec: exec}
}

func chatParams(q string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(q)}}
}

func claudeParams(q string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 256,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(q))}}
}

// Ask asks OpenAI.
func (s *Service) Ask(ctx context.Context, q string) (string, error) {
	out, err := s.chat.Chat.Completions.New(ctx, chatParams(q))
	if err != nil {
		return "", err
	}
	return out.Choices[0].Message.Content, nil
}

// AskStream asks OpenAI and reads the answer as it streams.
func (s *Service) AskStream(ctx context.Context, q string) (string, error) {
	stream := s.chat.Chat.Completions.NewStreaming(ctx, chatParams(q))
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		return "", err
	}
	return acc.Choices[0].Message.Content, nil
}

// AskClaude asks Anthropic.
func (s *Service) AskClaude(ctx context.Context, q string) (string, error) {
	msg, err := s.claude.Messages.New(ctx, claudeParams(q))
	if err != nil {
		return "", err
	}
	return msg.Content[0].Text, nil
}

// AskClaudeStream asks Anthropic and reads the answer as it streams.
func (s *Service) AskClaudeStream(ctx context.Context, q string) (string, error) {
	stream := s.claude.Messages.NewStreaming(ctx, claudeParams(q))
	defer stream.Close()
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			return "", err
		}
	}
	if err := stream.Err(); err != nil {
		return "", err
	}
	return msg.Content[0].Text, nil
}

// Batch asks OpenAI every question, within the executor's limits
// (8 at a time, 100 a second); the answers come in input order.
func (s *Service) Batch(ctx context.Context, qs []string) ([]string, error) {
	return executor.Map(ctx, s.exec, qs, s.Ask)
}
