package endpoint

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/khive-go/khive/executor"
	"github.com/khive-go/khive/internal/jsonscan"
	"github.com/khive-go/khive/ratelimit"
)

// Dialect is what an endpoint knows of its provider's wire format: how to
// read an error, which statuses are worth a retry or mean the provider is
// overloaded, how to estimate a request's token cost and read an answer's
// usage, and which rate-limit headers it speaks. The providers package
// hands each endpoint it builds its family's dialect (WithDialect), as it
// hands an SDK; an endpoint given none speaks GenericDialect. The endpoint
// itself knows no provider by name.
type Dialect interface {
	// ErrorBody reads an error answer's body, or an event's data in a
	// stream: the provider's error type, message and code; ok is false when
	// the data holds no error.
	ErrorBody(data []byte) (typ, msg, code string, ok bool)
	// Retryable reports whether an answer with this status is worth another
	// attempt (x-should-retry, when the provider sends it, wins).
	Retryable(status int) bool
	// Overloaded reports whether the status says the provider is
	// overloaded, not that the request was wrong (StatusError.Overloaded).
	Overloaded(status int) bool
	// Cost estimates a request's token cost from its body.
	Cost(body []byte) int
	// Usage reads the tokens an answer's body reports, -1 when none.
	Usage(body []byte) int
	// RateLimit reads an answer's rate-limit headers and retry hints, as of
	// now (the time the request went out, for resets given as instants).
	RateLimit(h http.Header, now time.Time) executor.RateLimit
	// Answer reads what telemetry reports of an answer (or a stream's last
	// chunk): its id, model, finish reasons and token usage.
	Answer(body []byte) Answer
}

// Answer is what telemetry reports of an answer; no content.
type Answer struct {
	ID, Model     string
	FinishReasons []string
	// InputTokens and OutputTokens are -1 when the answer reports none.
	// InputTokens counts every input token, those read from and written
	// to the provider's prompt cache included (OpenAI's prompt_tokens;
	// Anthropic's input_tokens plus its two cache counts).
	InputTokens, OutputTokens int
	// CachedInputTokens and CacheWriteTokens are the parts of InputTokens
	// read from and written to the prompt cache (0 when none or not said).
	CachedInputTokens, CacheWriteTokens int
}

// merge takes what b says over what a said: ids, finish reasons and the
// token counts it reports.
func (a *Answer) merge(b Answer) {
	if b.ID != "" {
		a.ID = b.ID
	}
	if b.Model != "" {
		a.Model = b.Model
	}
	if len(b.FinishReasons) > 0 {
		a.FinishReasons = b.FinishReasons
	}
	if b.InputTokens >= 0 {
		a.InputTokens = b.InputTokens
		a.CachedInputTokens, a.CacheWriteTokens = b.CachedInputTokens, b.CacheWriteTokens
	}
	if b.OutputTokens >= 0 {
		a.OutputTokens = b.OutputTokens
	}
}

// GenericDialect is the dialect of an endpoint given none, and the base the
// providers' dialects build on: error bodies {"error":{"type","message",
// "code"}} or {"error":"message"}; the statuses the official SDKs retry
// (408, 409, 429, 500, 502, 503, 504); 503 as overloaded; cost as
// characters/4 plus max_tokens or max_completion_tokens; usage as
// total_tokens, else input_tokens + output_tokens; every rate-limit header
// family package ratelimit reads.
type GenericDialect struct{}

var _ Dialect = GenericDialect{}

// ErrorBody implements Dialect.
func (GenericDialect) ErrorBody(data []byte) (typ, msg, code string, ok bool) {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &env) != nil || len(env.Error) == 0 || string(env.Error) == "null" {
		return "", "", "", false
	}
	var inner struct {
		Type    string          `json:"type"`
		Message string          `json:"message"`
		Code    json.RawMessage `json:"code"`
	}
	if json.Unmarshal(env.Error, &inner) == nil {
		code := strings.Trim(string(inner.Code), `"`)
		if code == "null" {
			code = ""
		}
		return inner.Type, inner.Message, code, true
	}
	var s string
	if json.Unmarshal(env.Error, &s) == nil {
		return "", s, "", true
	}
	return "", "", "", true
}

// Retryable implements Dialect.
func (GenericDialect) Retryable(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable,
		http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Overloaded implements Dialect.
func (GenericDialect) Overloaded(status int) bool { return status == http.StatusServiceUnavailable }

// Cost implements Dialect: characters/4 for the prompt plus the completion
// budget the request asks for. It scans for the fields rather than decoding
// the body: this runs on every call.
func (GenericDialect) Cost(body []byte) int { return estimateTokens(body) }

// Usage implements Dialect.
func (GenericDialect) Usage(body []byte) int { return usedTokens(body) }

// Answer implements Dialect: id and model; choices[].finish_reason or
// stop_reason; usage as prompt_tokens/completion_tokens (cached in
// prompt_tokens_details) or input_tokens/output_tokens (cached in
// input_tokens_details, or Anthropic's cache_read_input_tokens and
// cache_creation_input_tokens, which its input_tokens leaves out).
func (GenericDialect) Answer(body []byte) Answer {
	// One pass over the answer, its text skipped: only the usage object,
	// small, is decoded.
	out := Answer{InputTokens: -1, OutputTokens: -1}
	var usage []byte
	err := jsonscan.Members(body, func(key []byte, start, end int) bool {
		v := body[start:end]
		switch string(key) {
		case "id":
			out.ID, _ = jsonscan.String(v)
		case "model":
			out.Model, _ = jsonscan.String(v)
		case "choices":
			out.FinishReasons = finishReasons(v, out.FinishReasons)
		case "stop_reason":
			if r, ok := jsonscan.String(v); ok {
				out.FinishReasons = append(out.FinishReasons, r)
			}
		case "usage":
			usage = v
		}
		return true
	})
	var u answerUsage
	if err == nil && len(usage) > 0 {
		err = u.read(usage)
	}
	if err != nil {
		return Answer{InputTokens: -1, OutputTokens: -1}
	}
	if u.present {
		switch {
		case u.promptTokens.ok:
			out.InputTokens = u.promptTokens.n
		case u.inputTokens.ok:
			out.InputTokens = u.inputTokens.n
		}
		switch {
		case u.promptDetails:
			out.CachedInputTokens = u.promptCached
		case u.inputDetails:
			out.CachedInputTokens = u.inputCached
		}
		if u.cacheRead.ok || u.cacheWrite.ok { // Anthropic's: apart from input_tokens
			out.CachedInputTokens, out.CacheWriteTokens = u.cacheRead.n, u.cacheWrite.n
			out.InputTokens = max(0, out.InputTokens) + out.CachedInputTokens + out.CacheWriteTokens
		}
		switch {
		case u.completionTokens.ok:
			out.OutputTokens = u.completionTokens.n
		case u.outputTokens.ok:
			out.OutputTokens = u.outputTokens.n
		}
		if out.InputTokens >= 0 && out.OutputTokens < 0 {
			out.OutputTokens = 0
		}
	}
	return out
}

// answerUsage is the usage object of an answer, in either family's names,
// read without allocating: each count says whether the answer gave it.
type answerUsage struct {
	present                        bool // an object, not null
	promptTokens, completionTokens count
	inputTokens, outputTokens      count
	promptDetails, inputDetails    bool  // prompt_tokens_details, input_tokens_details: objects
	promptCached, inputCached      int   // their cached_tokens
	cacheRead, cacheWrite          count // Anthropic's cache_read_input_tokens, cache_creation_input_tokens
}

// count is a token count an answer gave (ok), or did not.
type count struct {
	n  int
	ok bool
}

func countOf(v []byte) count {
	n, err := strconv.Atoi(string(v)) // no copy: the conversion does not escape
	if err != nil {
		return count{}
	}
	return count{n: n, ok: true}
}

// cachedTokens reads the cached_tokens of a *_tokens_details object;
// false for null or what is not an object.
func cachedTokens(v []byte) (int, bool) {
	n := 0
	err := jsonscan.Members(v, func(key []byte, start, end int) bool {
		if string(key) == "cached_tokens" {
			if c := countOf(v[start:end]); c.ok {
				n = c.n
			}
		}
		return true
	})
	return n, err == nil
}

// read scans a usage object: nothing for null, an error for what is not
// an object.
func (u *answerUsage) read(raw []byte) error {
	if string(raw) == "null" {
		return nil
	}
	err := jsonscan.Members(raw, func(key []byte, start, end int) bool {
		v := raw[start:end]
		switch string(key) {
		case "prompt_tokens":
			u.promptTokens = countOf(v)
		case "completion_tokens":
			u.completionTokens = countOf(v)
		case "input_tokens":
			u.inputTokens = countOf(v)
		case "output_tokens":
			u.outputTokens = countOf(v)
		case "prompt_tokens_details":
			u.promptCached, u.promptDetails = cachedTokens(v)
		case "input_tokens_details":
			u.inputCached, u.inputDetails = cachedTokens(v)
		case "cache_read_input_tokens":
			u.cacheRead = countOf(v)
		case "cache_creation_input_tokens":
			u.cacheWrite = countOf(v)
		}
		return true
	})
	u.present = err == nil
	return err
}

// finishReasons appends the finish_reason of each choice that has one.
func finishReasons(choices []byte, out []string) []string {
	_ = jsonscan.Elements(choices, func(start, end int) bool {
		choice := choices[start:end]
		_ = jsonscan.Members(choice, func(key []byte, s, e int) bool {
			if string(key) != "finish_reason" {
				return true
			}
			if r, ok := jsonscan.String(choice[s:e]); ok {
				out = append(out, r)
			}
			return false
		})
		return true
	})
	return out
}

// RateLimit implements Dialect.
func (GenericDialect) RateLimit(h http.Header, now time.Time) executor.RateLimit {
	return ratelimit.Parse(h, now)
}
