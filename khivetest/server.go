// Package khivetest is test support for code that calls providers through
// khive, as httptest is for net/http: a fake provider on loopback speaking
// OpenAI's wire format (chat completions, plain and streamed; embeddings,
// float and base64; the model list) and Anthropic's (messages, plain and
// streamed; count_tokens), that can be told to misbehave: latency and jitter, error
// statuses, a token bucket answering 429 with real rate-limit headers in
// OpenAI's or Anthropic's form, connection resets, hangs, slow or malformed
// bodies, cut streams.
//
//	up := khivetest.New()
//	defer up.Close()
//	up.Enforce(50, 10) // 50 requests/s, burst 10, 429 beyond
//	cfg, _ := providers.Match("openai", "chat", providers.WithBaseURL(up.BaseURL()), ...)
//
// BaseURL serves both formats: an Anthropic endpoint points at it the same
// way (its path is messages, its anthropic-version header is required, as
// Anthropic's is), and so does the raw anthropic-sdk-go, whose base URL has
// no /v1:
//
//	cfg, _ := providers.Match("anthropic", "messages", providers.WithBaseURL(up.BaseURL()),
//		providers.WithAPIKey(endpoint.NewSecret("k")))
//	client := anthropic.NewClient(option.WithBaseURL(up.URL), option.WithAPIKey("k"))
//
// With Key set, a request must carry it (Authorization: Bearer, or
// x-api-key for messages), else 401.
package khivetest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
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
	// Size is the length of the hostile modes that have one (hostile.go).
	Size int64
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
	bucket  *Bucket
	style   HeaderStyle
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
	countTokens := strings.HasSuffix(r.URL.Path, "/messages/count_tokens")
	anthropic := strings.HasSuffix(r.URL.Path, "/messages") || countTokens
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
	if s.hostile(w, r, fault) {
		return
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
	case countTokens:
		// A quarter of the messages' JSON, as a stand-in for a tokenizer.
		b, _ := json.Marshal(body["messages"])
		writeJSON(w, 200, map[string]any{"input_tokens": max(1, len(b)/4)})
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
	case strings.HasSuffix(r.URL.Path, "/responses"):
		s.responses(w, body)
	case strings.HasSuffix(r.URL.Path, "/responses/compact"):
		// The fake's compaction: the input's text, "compacted".
		model, _ := body["model"].(string)
		s.answer(w, fault, map[string]any{"id": "cmp_fake", "object": "response.compaction", "model": model,
			"output": []any{map[string]any{"type": "compaction", "id": "cmp_item_fake", "encrypted_content": "compacted: " + responsesInputText(body)}}})
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
