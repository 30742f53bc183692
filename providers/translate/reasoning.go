package translate

import (
	"encoding/json"
	"strings"

	"github.com/khive-go/khive/providers/anthropic"
	"github.com/khive-go/khive/providers/openai"
)

// Reasoning crosses formats as an effort: OpenAI's reasoning_effort (and
// the Responses API's reasoning.effort) is low, medium or high (minimal
// and none ask for no reasoning); Anthropic asks with thinking, a token
// budget ({type: enabled, budget_tokens}) or adaptive with
// output_config.effort.

// thinkingBudgets are the thinking budgets, in tokens, an effort becomes
// for Anthropic.
var thinkingBudgets = map[string]int{"low": 2048, "medium": 8192, "high": 24576, "xhigh": 32768}

// minThinkingBudget is the least budget Anthropic accepts.
const minThinkingBudget = 1024

// effortOfBudget is the effort a thinking budget stands for.
func effortOfBudget(tokens int) string {
	switch {
	case tokens <= 4096:
		return "low"
	case tokens <= 16384:
		return "medium"
	}
	return "high"
}

// anthropicEffort reads the effort an Anthropic request asks for: its
// output_config.effort (max is high), else an enabled thinking budget's;
// "" for none (no thinking, thinking disabled, or adaptive with the
// model's own default). asked reports whether the request had either
// field.
func anthropicEffort(req anthropic.MessagesRequest) (effort string, asked bool) {
	var oc struct {
		Effort string `json:"effort"`
	}
	var th struct {
		Type         string `json:"type"`
		BudgetTokens int    `json:"budget_tokens"`
	}
	rawOC, hasOC := req.Extra["output_config"]
	rawTh, hasTh := req.Extra["thinking"]
	_ = json.Unmarshal(rawOC, &oc)
	_ = json.Unmarshal(rawTh, &th)
	switch {
	case th.Type == "disabled":
	case oc.Effort == "max":
		effort = "high"
	case oc.Effort != "":
		effort = oc.Effort
	case th.Type == "enabled" && th.BudgetTokens > 0:
		effort = effortOfBudget(th.BudgetTokens)
	}
	return effort, hasOC || hasTh
}

// reasoningToChat sets reasoning_effort from an Anthropic request's
// thinking, unless opts drop it.
func reasoningToChat(req anthropic.MessagesRequest, opts Options, out *openai.ChatRequest, dropped *Dropped) {
	effort, asked := anthropicEffort(req)
	switch {
	case !asked:
	case opts.DropReasoning:
		dropped.Fields = append(dropped.Fields, "thinking")
	case effort != "":
		setExtra(&out.Extra, "reasoning_effort", effort)
	}
}

// thinkingFromEffort sets Anthropic's thinking from a chat request's
// reasoning_effort: a budget by effort, within the request's bound (a
// budget leaves at least 1024 tokens of it for the answer) or, without
// one, on top of the default max_tokens. Reasoning that cannot be carried
// is dropped and named: with opts' DropReasoning, a bound too small to
// think in, or a tool_choice that forces a tool (Anthropic refuses
// thinking then). A temperature other than 1 with thinking is refused:
// Anthropic allows none.
func thinkingFromEffort(req openai.ChatRequest, opts Options, bounded bool, out *anthropic.MessagesRequest, dropped *Dropped) error {
	raw, ok := req.Extra["reasoning_effort"]
	if !ok || string(raw) == "null" {
		return nil
	}
	var effort string
	if json.Unmarshal(raw, &effort) != nil {
		return refuse("reasoning_effort", "must be a string")
	}
	budget, thinks := thinkingBudgets[effort]
	if !thinks { // none, minimal, and efforts yet unknown: no thinking
		return nil
	}
	var choice struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(out.Extra["tool_choice"], &choice)
	if bounded {
		budget = min(budget, out.MaxTokens-minThinkingBudget)
	}
	if opts.DropReasoning || budget < minThinkingBudget || choice.Type == "any" || choice.Type == "tool" {
		dropped.Fields = append(dropped.Fields, "reasoning_effort")
		return nil
	}
	if t := out.Temperature; t != nil && *t != 1 {
		return refuse("temperature", "cannot be set with reasoning_effort when the model is served by Anthropic (thinking needs temperature 1)")
	}
	if !bounded {
		out.MaxTokens += budget
	}
	setExtra(&out.Extra, "thinking", map[string]any{"type": "enabled", "budget_tokens": budget})
	return nil
}

// responsesEffort carries a Responses request's reasoning.effort to chat's
// reasoning_effort (its summary setting has no chat counterpart), unless
// opts drop it.
func responsesEffort(req openai.ResponsesRequest, opts Options, out *openai.ChatRequest, dropped *Dropped) {
	raw, ok := req.Extra["reasoning"]
	if !ok || string(raw) == "null" {
		return
	}
	var r struct {
		Effort string `json:"effort"`
	}
	_ = json.Unmarshal(raw, &r)
	switch {
	case opts.DropReasoning:
		dropped.Fields = append(dropped.Fields, "reasoning")
	case r.Effort != "":
		setExtra(&out.Extra, "reasoning_effort", strings.ToLower(r.Effort))
	}
}
