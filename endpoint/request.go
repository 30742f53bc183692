package endpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Request is one call to the endpoint.
type Request struct {
	// Body is sent as JSON: a map, a struct, json.RawMessage or []byte (sent
	// as given). Object bodies get the endpoint's Defaults merged in.
	Body any
	// Headers are added to the endpoint's default headers, and win over them.
	// Auth headers cannot be overridden.
	Headers http.Header
	// Params fill {name} placeholders in the endpoint's Path.
	Params map[string]string
	// Cache opts this request into the endpoint's response cache.
	Cache bool
	// Cost is the tokens this call spends from the token limit; 0 estimates
	// it from the body: characters/4 plus max_tokens or max_completion_tokens.
	Cost int
	// Method and Path, when set, replace the endpoint's for this request
	// (e.g. GET models beside a chat endpoint's POST chat/completions); the
	// base URL, auth, limits, retries and breaker are the endpoint's.
	Method string
	Path   string
	// Probe marks a call that asks after the endpoint rather than serving
	// a user (a model-list refresh, a health check): it is sent once, with
	// no retry, and the circuit breaker neither refuses nor counts it, so
	// a probe of an upstream that is down cannot open the circuit for the
	// calls that follow. Limits and the concurrency slot apply as usual.
	Probe bool
}

// Response is a provider's answer. Body is read in full; treat it as
// read-only, since cached responses share it.
type Response struct {
	Status   int
	Header   http.Header
	Body     []byte
	Attempts int  // requests that reached the upstream, 1 when the first succeeded (AttemptsOf)
	Cached   bool // served from the endpoint's cache
}

// Decode unmarshals the JSON body into v.
func (r *Response) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("endpoint: decode response: %w", err)
	}
	return nil
}

// shared copies the response for another caller: headers are cloned, the
// body is shared.
func (r *Response) shared() *Response {
	if r == nil {
		return nil
	}
	c := *r
	c.Header = r.Header.Clone()
	return &c
}

// prepared is a request ready to send, any number of times.
type prepared struct {
	method string
	url    string
	header http.Header
	body   []byte
	cost   int
	probe  bool
	raw    bool // sent as it is, over HTTP even with transport sdk (the managed client's)
}

// prepare builds the request to send. Its header is the endpoint's shared,
// read-only map unless the request adds headers or it is a stream's (the
// caller will set Accept); a stream's object body gets "stream": true if
// it has no "stream" field.
func (e *Endpoint) prepare(req Request, stream bool) (*prepared, error) {
	u, err := e.url(req.Path, req.Params)
	if err != nil {
		return nil, err
	}
	p := &prepared{method: e.cfg.Method, url: u, header: e.header}
	if req.Method != "" {
		p.method = strings.ToUpper(req.Method)
	}
	if stream || len(req.Headers) > 0 {
		p.header = e.header.Clone()
	}
	for k, vs := range req.Headers {
		if e.isAuthHeader(k) {
			continue
		}
		p.header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	if req.Body != nil {
		if p.body, err = encodeBody(req.Body, e.defaults); err != nil {
			return nil, fmt.Errorf("endpoint %q: request body: %w", e.cfg.Name, err)
		}
		if stream {
			p.body = withStreamFlag(p.body)
		}
	}
	p.cost, p.probe = req.Cost, req.Probe
	if p.cost == 0 && e.learns {
		p.cost = e.dialect.Cost(p.body)
	}
	return p, nil
}

func (e *Endpoint) url(override string, params map[string]string) (string, error) {
	path := e.cfg.Path
	if override != "" {
		path = override
	} else if e.fixedURL != "" {
		return e.fixedURL, nil
	}
	for strings.Contains(path, "{") {
		i := strings.IndexByte(path, '{')
		j := strings.IndexByte(path[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("endpoint %q: path: unclosed {", e.cfg.Name)
		}
		name := path[i+1 : i+j]
		v, ok := params[name]
		if !ok {
			return "", fmt.Errorf("endpoint %q: path parameter %q missing from the request", e.cfg.Name, name)
		}
		path = path[:i] + url.PathEscape(v) + path[i+j+1:]
	}
	if path == "" {
		return e.base, nil
	}
	return e.base + "/" + strings.TrimPrefix(path, "/"), nil
}

// encodeBody marshals body and merges defaults into a JSON object.
func encodeBody(body any, defaults map[string]json.RawMessage) ([]byte, error) {
	var raw []byte
	switch b := body.(type) {
	case []byte:
		raw = b
	case json.RawMessage:
		raw = b
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	if len(defaults) == 0 || !isJSONObject(raw) {
		return raw, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	added := false
	for k, v := range defaults {
		if _, ok := fields[k]; !ok {
			fields[k], added = v, true
		}
	}
	if !added {
		return raw, nil
	}
	return json.Marshal(fields)
}

// withStreamFlag returns a JSON object body with "stream": true added
// when it has no top-level "stream" field (a forgotten flag would get a
// plain JSON answer to a stream request); other bodies as they are.
func withStreamFlag(body []byte) []byte {
	if !isJSONObject(body) {
		return body
	}
	if bytes.Contains(body, []byte(`"stream"`)) {
		var fields map[string]json.RawMessage
		if json.Unmarshal(body, &fields) != nil {
			return body // not JSON: the provider says what is wrong
		}
		if _, ok := fields["stream"]; ok {
			return body
		}
	}
	i := bytes.IndexByte(body, '{') + 1
	rest := bytes.TrimLeft(body[i:], " \t\r\n")
	out := make([]byte, 0, len(body)+len(`"stream":true,`))
	out = append(out, body[:i]...)
	out = append(out, `"stream":true`...)
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, body[i:]...)
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// estimateTokens guesses a request's token cost: characters/4 for the
// prompt plus the completion budget it asks for (max_tokens or
// max_completion_tokens).
func estimateTokens(body []byte) int {
	n := (len(body) + 3) / 4
	mt, _ := intField(body, `"max_tokens"`)
	mct, _ := intField(body, `"max_completion_tokens"`)
	return max(n+max(mt, mct), 1)
}

// usedTokens reads the usage an answer reports: total_tokens, or
// input_tokens + output_tokens; -1 when it reports none.
func usedTokens(body []byte) int {
	if n, ok := intField(body, `"total_tokens"`); ok {
		return n
	}
	in, okIn := intField(body, `"input_tokens"`)
	out, okOut := intField(body, `"output_tokens"`)
	if !okIn && !okOut {
		return -1
	}
	return in + out
}

// intField finds key (quoted) followed by a colon and returns the
// non-negative integer after it, and whether there was one. An escaped key
// inside a string (\"max_tokens\") is not a field and is skipped.
func intField(body []byte, key string) (int, bool) {
	for off := 0; ; {
		i := bytes.Index(body[off:], []byte(key))
		if i < 0 {
			return 0, false
		}
		i += off
		off = i + len(key)
		if i > 0 && body[i-1] == '\\' {
			continue
		}
		j := off
		for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r') {
			j++
		}
		if j >= len(body) || body[j] != ':' {
			continue
		}
		j++
		for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r') {
			j++
		}
		v, digits := 0, 0
		for ; j < len(body) && body[j] >= '0' && body[j] <= '9' && digits < 9; j++ {
			v, digits = v*10+int(body[j]-'0'), digits+1
		}
		return v, digits > 0
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
