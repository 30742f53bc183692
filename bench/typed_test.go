package bench

import (
	"context"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/khive-go/khive/bench/internal/typedchat"
)

// BenchmarkTypedChat is one typed chat call through openai-go: its own
// client (the baseline) and the client openai.ClientOf builds on an
// endpoint (limits, breaker, retries on), same loopback upstream, same run:
//
//	cd bench && go test -run XXX -bench TypedChat -benchmem
//
// cmd/typed interleaves the two in rounds and reports medians.
func BenchmarkTypedChat(b *testing.B) {
	sdk, khive, closeAll, err := typedchat.Setup()
	if err != nil {
		b.Fatal(err)
	}
	defer closeAll()
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		client *openai.Client
	}{{"sdk", sdk}, {"khive", khive}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.client.Chat.Completions.New(ctx, typedchat.Params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
