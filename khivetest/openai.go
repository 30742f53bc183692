package khivetest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

// Reply is the fake's answer to a chat: "echo: " and the last user message.
func Reply(body map[string]any) string {
	msgs, _ := body["messages"].([]any)
	last := ""
	for _, m := range msgs {
		mm, _ := m.(map[string]any)
		if mm["role"] == "user" {
			if c, ok := mm["content"].(string); ok {
				last = c
			}
		}
	}
	return "echo: " + last
}

func tokens(s string) int { return len(strings.Fields(s)) }

// openAIReply is Reply cut to max_tokens (or max_completion_tokens) words,
// with its finish reason.
func openAIReply(body map[string]any) (string, string) {
	reply := Reply(body)
	if answer, ok := toolAnswer(body); ok {
		reply = answer
	}
	limit, ok := body["max_completion_tokens"].(float64)
	if !ok {
		limit, ok = body["max_tokens"].(float64)
	}
	if words := strings.SplitAfter(reply, " "); ok && len(words) > int(limit) {
		return strings.Join(words[:int(limit)], ""), "length"
	}
	return reply, "stop"
}

func chatCompletion(body map[string]any) map[string]any {
	model, _ := body["model"].(string)
	reply, finish := openAIReply(body)
	prompt := tokens(fmt.Sprint(body["messages"]))
	if name, args, ok := toolCall(body); ok {
		return map[string]any{
			"id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000, "model": model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "tool_calls", "logprobs": nil,
				"message": map[string]any{"role": "assistant", "content": nil, "refusal": nil, "tool_calls": []any{map[string]any{
					"id": "call_fake_1", "type": "function", "function": map[string]any{"name": name, "arguments": argsJSON(args)}}}}}},
			"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": 5, "total_tokens": prompt + 5},
		}
	}
	msg := map[string]any{"role": "assistant", "content": reply, "refusal": nil}
	if t, ok := thought(body); ok {
		msg["reasoning_content"] = t
	}
	return map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000, "model": model,
		"choices": []any{map[string]any{"index": 0, "finish_reason": finish, "logprobs": nil, "message": msg}},
		"usage":   map[string]any{"prompt_tokens": prompt, "completion_tokens": tokens(reply), "total_tokens": prompt + tokens(reply)},
	}
}

// chatStream sends the reply in word chunks, a usage chunk when asked, and
// [DONE].
func (s *Server) chatStream(w http.ResponseWriter, r *http.Request, body map[string]any, f Fault) {
	model, _ := body["model"].(string)
	reply, finish := openAIReply(body)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		_ = rc.Flush()
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	send(chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	if t, ok := thought(body); ok {
		send(chunk(map[string]any{"reasoning_content": t}, nil))
	}
	if name, args, ok := toolCall(body); ok {
		send(chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "id": "call_fake_1", "type": "function",
			"function": map[string]any{"name": name, "arguments": ""}}}}, nil))
		for _, part := range halves(argsJSON(args)) {
			send(chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]any{"arguments": part}}}}, nil))
		}
		reply, finish = "", "tool_calls"
	}
	words := strings.SplitAfter(reply, " ")
	if reply == "" {
		words = nil
	}
	for i, word := range words {
		if f.Kind == ErrorEvent && i == 1 {
			send(map[string]any{"error": map[string]any{"message": "The server had an error while processing your request.", "type": "server_error"}})
			return
		}
		if f.Kind == CutStream && i == 1 {
			fmt.Fprint(w, `data: {"id":"chatcmpl-fake","obj`)
			_ = rc.Flush()
			hijackClose(w)
			return
		}
		if f.Kind == SlowBody && f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		}
		send(chunk(map[string]any{"content": word}, nil))
	}
	send(chunk(map[string]any{}, finish))
	if opts, _ := body["stream_options"].(map[string]any); opts["include_usage"] == true {
		prompt := tokens(fmt.Sprint(body["messages"]))
		send(map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
			"choices": []any{}, "usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": tokens(reply), "total_tokens": prompt + tokens(reply)}})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

// Vector is the fake embedding of a text: 4 floats derived from it.
func Vector(text string) []float32 {
	v := make([]float32, 4)
	for i, c := range text {
		v[i%4] += float32(c) / 1000
	}
	return v
}

func embeddings(body map[string]any) (map[string]any, error) {
	var inputs []string
	switch in := body["input"].(type) {
	case string:
		inputs = []string{in}
	case []any:
		for _, x := range in {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("input: only strings are supported")
			}
			inputs = append(inputs, s)
		}
	default:
		return nil, fmt.Errorf("input: must be a string or an array of strings")
	}
	format, _ := body["encoding_format"].(string)
	model, _ := body["model"].(string)
	data := make([]any, len(inputs))
	total := 0
	for i, in := range inputs {
		vec := Vector(in)
		total += tokens(in)
		var emb any = vec
		if format == "base64" {
			buf := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": emb}
	}
	return map[string]any{"object": "list", "data": data, "model": model,
		"usage": map[string]any{"prompt_tokens": total, "total_tokens": total}}, nil
}
