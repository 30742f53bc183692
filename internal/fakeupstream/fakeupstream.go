// Package fakeupstream is an OpenAI-compatible provider on loopback for
// tests, examples and benchmarks. It answers chat completions (plain and
// streamed), embeddings (float and base64) and the model list, and can be
// told to misbehave: latency, error statuses, 429 with rate-limit headers,
// connection resets, hangs, slow or malformed bodies, cut streams.
package fakeupstream

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FaultKind says how a request is mishandled.
type FaultKind int

const (
	None         FaultKind = iota
	Status                 // answer Fault.Status with an OpenAI error body and Fault.Headers
	ResetBefore            // close the connection before any response
	ResetMidBody           // send headers and half a body, then close
	Hang                   // never answer (until the client gives up)
	SlowBody               // trickle the body a byte at a time, Fault.Delay apart
	Malformed              // 200 with invalid JSON
	CutStream              // streams: send one chunk, then close mid-event
	ErrorEvent             // streams: send one chunk, then an error event
)

// Fault is one misbehaviour.
type Fault struct {
	Kind    FaultKind
	Status  int
	Headers map[string]string
	Delay   time.Duration
}

// Server is the fake provider. Its zero settings answer every request at once.
type Server struct {
	*httptest.Server
	// Key, when set, is the bearer key clients must send.
	Key string

	mu      sync.Mutex
	headers func(http.Header) // adds headers to every answer
	latency time.Duration
	jitter  time.Duration
	mix     []Weighted
	rnd     *rand.Rand
	bucket  *bucket
	script  []Fault // consumed one per request, before always
	always  Fault
	last    Recorded

	requests atomic.Int64
	inFlight atomic.Int64
	limited  atomic.Int64
}

// Recorded is what the server saw of the last model request.
type Recorded struct {
	Path   string
	Header http.Header
	Body   map[string]any
}

// New starts a server on 127.0.0.1. Close it when done.
func New() *Server {
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL of the OpenAI-compatible base, with /v1.
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// SetLatency delays every answer.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetJitter adds a random [0, d) to the latency of every answer.
func (s *Server) SetJitter(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jitter = d
}

// Weighted is a fault and its share of requests.
type Weighted struct {
	Fault
	Share float64 // 0..1
}

// Mix gives each request the faults' shares at random (seeded, so a run
// can be repeated); the rest are served normally. It applies once the
// script is spent, in place of Always.
func (s *Server) Mix(seed int64, faults ...Weighted) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mix, s.rnd = faults, rand.New(rand.NewPCG(uint64(seed), 0))
}

// Enforce makes the server a rate-limited provider: a token bucket of
// perSecond requests with burst; beyond it, 429 with OpenAI's rate-limit
// headers and retry-after-ms. Every answer carries the headers.
func (s *Server) Enforce(perSecond float64, burst int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucket = &bucket{rate: perSecond, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// Limited is the number of requests answered 429 by Enforce's bucket.
func (s *Server) Limited() int64 { return s.limited.Load() }

// bucket is Enforce's token bucket.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

// take spends a token, or says how long until one is there.
func (b *bucket) take(now time.Time) (remaining int, wait time.Duration, ok bool) {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return int(b.tokens), 0, true
	}
	return 0, time.Duration((1 - b.tokens) / b.rate * float64(time.Second)), false
}

// Script makes the next requests fail in order, one fault each.
func (s *Server) Script(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, faults...)
}

// Always applies f to every request once the script is spent.
func (s *Server) Always(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.always = f
}

// SetHeaders makes every answer carry the headers f writes (rate-limit
// headers, say); f may count calls.
func (s *Server) SetHeaders(f func(http.Header)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.headers = f
}

// Requests is the number of model requests served or failed.
func (s *Server) Requests() int64 { return s.requests.Load() }

// InFlight is the number of requests being handled now.
func (s *Server) InFlight() int64 { return s.inFlight.Load() }

// Last is the last model request.
func (s *Server) Last() Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *Server) next() (Fault, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	latency := s.latency
	if s.jitter > 0 {
		if s.rnd == nil {
			s.rnd = rand.New(rand.NewPCG(1, 0))
		}
		latency += time.Duration(s.rnd.Int64N(int64(s.jitter)))
	}
	if len(s.script) > 0 {
		f := s.script[0]
		s.script = s.script[1:]
		return f, latency
	}
	if len(s.mix) > 0 {
		x := s.rnd.Float64()
		for _, w := range s.mix {
			if x < w.Share {
				return w.Fault, latency
			}
			x -= w.Share
		}
		return Fault{}, latency
	}
	return s.always, latency
}

// admit applies Enforce's bucket: false means a 429 was written.
func (s *Server) admit(w http.ResponseWriter, fail func(http.ResponseWriter, int, string, string, map[string]string)) bool {
	s.mu.Lock()
	b := s.bucket
	var remaining int
	var wait time.Duration
	ok := true
	if b != nil {
		remaining, wait, ok = b.take(time.Now())
	}
	s.mu.Unlock()
	if b == nil {
		return true
	}
	h := w.Header()
	h.Set("x-ratelimit-limit-requests", strconv.Itoa(int(b.burst)))
	h.Set("x-ratelimit-remaining-requests", strconv.Itoa(remaining))
	h.Set("x-ratelimit-reset-requests", (time.Duration((b.burst - float64(remaining)) / b.rate * float64(time.Second))).String())
	if ok {
		return true
	}
	s.limited.Add(1)
	fail(w, 429, "rate_limit_error", "Rate limit reached for requests", map[string]string{
		"retry-after-ms": strconv.FormatInt(wait.Milliseconds()+1, 10),
	})
	return false
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models") {
		writeJSON(w, 200, map[string]any{"object": "list", "data": []map[string]any{
			{"id": "fake-model", "object": "model", "created": 1, "owned_by": "fake"},
		}})
		return
	}
	s.requests.Add(1)
	anthropic := strings.HasSuffix(r.URL.Path, "/messages")
	fail := writeError
	if anthropic {
		fail = writeAnthropicError
	}
	if s.Key != "" && r.Header.Get("Authorization") != "Bearer "+s.Key && (!anthropic || r.Header.Get("X-Api-Key") != s.Key) {
		fail(w, 401, "authentication_error", "invalid x-api-key", nil)
		return
	}
	if anthropic && r.Header.Get("Anthropic-Version") == "" {
		fail(w, 400, "invalid_request_error", "anthropic-version: header is required", nil)
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fail(w, 400, "invalid_request_error", "could not parse the JSON body", nil)
		return
	}
	s.mu.Lock()
	s.last = Recorded{Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	if s.headers != nil {
		s.headers(w.Header())
	}
	s.mu.Unlock()

	if !s.admit(w, fail) {
		return
	}
	fault, latency := s.next()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	switch fault.Kind {
	case Status:
		fail(w, fault.Status, errorType(fault.Status, anthropic), fmt.Sprintf("fake upstream answered %d", fault.Status), fault.Headers)
		return
	case ResetBefore:
		hijackClose(w)
		return
	case Hang:
		<-r.Context().Done()
		return
	}
	switch {
	case anthropic:
		if stream, _ := body["stream"].(bool); stream {
			s.messagesStream(w, r, body, fault)
			return
		}
		s.answer(w, fault, messagesResponse(body))
	case strings.HasSuffix(r.URL.Path, "/chat/completions"):
		if stream, _ := body["stream"].(bool); stream {
			s.chatStream(w, r, body, fault)
			return
		}
		s.answer(w, fault, chatCompletion(body))
	case strings.HasSuffix(r.URL.Path, "/embeddings"):
		resp, err := embeddings(body)
		if err != nil {
			writeError(w, 400, "invalid_request_error", err.Error(), nil)
			return
		}
		s.answer(w, fault, resp)
	default:
		writeError(w, 404, "invalid_request_error", "unknown path "+r.URL.Path, nil)
	}
}

// answer writes v as JSON, applying body faults.
func (s *Server) answer(w http.ResponseWriter, f Fault, v any) {
	b, _ := json.Marshal(v)
	switch f.Kind {
	case Malformed:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b[:len(b)/2])
		return
	case ResetMidBody:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		_, _ = w.Write(b[:len(b)/2])
		_ = http.NewResponseController(w).Flush()
		hijackClose(w)
		return
	case SlowBody:
		w.Header().Set("Content-Type", "application/json")
		rc := http.NewResponseController(w)
		for i := range b {
			_, _ = w.Write(b[i : i+1])
			_ = rc.Flush()
			time.Sleep(f.Delay)
		}
		return
	}
	for k, v := range f.Headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func hijackClose(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errorType is the error type a provider uses for a status.
func errorType(status int, anthropic bool) string {
	if !anthropic {
		if status == 429 {
			return "rate_limit_error"
		}
		if status < 500 {
			return "invalid_request_error"
		}
		return "server_error"
	}
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 429:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	}
	return "api_error"
}

func writeError(w http.ResponseWriter, status int, typ, msg string, headers map[string]string) {
	for k, v := range headers {
		w.Header().Set(k, v)
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
}

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
	return map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000, "model": model,
		"choices": []any{map[string]any{"index": 0, "finish_reason": finish,
			"message": map[string]any{"role": "assistant", "content": reply}}},
		"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": tokens(reply), "total_tokens": prompt + tokens(reply)},
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
	words := strings.SplitAfter(reply, " ")
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
