package main

import (
	"context"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// Service answers questions through two providers' official SDKs, with
// the SDKs' own retries, x/time/rate and errgroup: examples/service's
// job without khive.
type Service struct {
	chat    openai.Client
	claude  anthropic.Client
	limiter *rate.Limiter
}

// NewService reads the keys and base URLs from the SDKs' own variables
// (OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL).
func NewService() *Service {
	return &Service{chat: openai.NewClient(), claude: anthropic.NewClient(), limiter: rate.NewLimiter(100, 8)}
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

// Batch asks OpenAI every question, 8 at a time and 100 a second; the
// answers come in input order.
func (s *Service) Batch(ctx context.Context, qs []string) ([]string, error) {
	answers := make([]string, len(qs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, q := range qs {
		g.Go(func() error {
			if err := s.limiter.Wait(ctx); err != nil {
				return err
			}
			a, err := s.Ask(ctx, q)
			answers[i] = a
			return err
		})
	}
	return answers, g.Wait()
}
