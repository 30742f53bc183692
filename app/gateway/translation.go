package gateway

import (
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/translate"
)

// translation is what the gateway's settings say a translated request does
// with what its target lacks: gateway.unsupported_tools,
// gateway.reasoning and gateway.anthropic_max_tokens.
type translation struct {
	unsupported, reasoning map[string]string
	maxTokens              int
}

func (s *Server) translation() translation {
	return translation{unsupported: s.cfg.UnsupportedTools, reasoning: s.cfg.Reasoning, maxTokens: s.cfg.AnthropicMaxTokens}
}

// options are the translation's options for the model (an alias, or
// ENDPOINT/MODEL) served by rt: an alias's setting wins over its
// endpoint's; built-in tools are refused by default, reasoning mapped for
// Anthropic targets and dropped for OpenAI-compatible ones.
func (t translation) options(model string, rt route) translate.Options {
	setting := func(policy map[string]string) string {
		if v, ok := policy[model]; ok {
			return v
		}
		return policy[rt.ep.Name()]
	}
	reasoning := setting(t.reasoning)
	return translate.Options{
		DropBuiltinTools: setting(t.unsupported) == "drop",
		DropReasoning:    reasoning == "drop" || (reasoning == "" && rt.kind != providers.KindMessages),
		MaxTokens:        t.maxTokens,
	}
}
