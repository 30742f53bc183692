package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
)

// member is one top-level member's value: its bytes, and where they lie in
// the body.
type member struct {
	value      json.RawMessage
	start, end int
}

var errNotObject = errors.New("the JSON body must be an object")

// topFields reads the top-level members of a JSON object in one pass,
// keeping the values of the keys in want (the last, should a key repeat)
// and decoding none: the cost is linear in the body, however many members
// it has. raw must be valid JSON (json.Valid).
func topFields(raw []byte, want ...string) (map[string]member, error) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, errNotObject
	}
	out := make(map[string]member, len(want))
	for i = skipSpace(raw, i+1); i < len(raw) && raw[i] != '}'; {
		kEnd := skipString(raw, i)
		key := raw[i+1 : kEnd-1]
		if slices.Contains(key, '\\') { // an escaped key: rare, decoded
			var k string
			_ = json.Unmarshal(raw[i:kEnd], &k)
			key = []byte(k)
		}
		i = skipSpace(raw, kEnd) + 1 // past ':'
		start := skipSpace(raw, i)
		end := skipValue(raw, start)
		for _, w := range want {
			if string(key) == w { // compared without a copy
				out[w] = member{value: raw[start:end], start: start, end: end}
			}
		}
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return out, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] ('"').
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

// withValue returns raw with the member m's value replaced by v: the rest
// of the body byte for byte as the client sent it.
func withValue(raw []byte, m member, v []byte) []byte {
	out := make([]byte, 0, len(raw)-(m.end-m.start)+len(v))
	out = append(out, raw[:m.start]...)
	out = append(out, v...)
	return append(out, raw[m.end:]...)
}

// topBody is a request body read for routing: the body as sent, its model
// (and where it lies), and the other top-level fields asked for.
type topBody struct {
	raw     []byte
	model   string
	modelAt member
	fields  map[string]member
}

// readTop reads the request's body and finds its model and the fields in
// want: 413 over the size limit, 400 for a body that is not a JSON object
// or a model that is not a string.
func readTop(r *http.Request, want ...string) (topBody, *apiError) {
	raw, aerr := readBody(r)
	if aerr != nil {
		return topBody{}, aerr
	}
	if !json.Valid(raw) {
		var v any
		err := json.Unmarshal(raw, &v) // its message says where
		return topBody{}, badRequest("", "could not parse the JSON body: %v", err)
	}
	fields, err := topFields(raw, append(want, "model")...)
	if err != nil {
		return topBody{}, badRequest("", "could not parse the JSON body: %v", err)
	}
	b := topBody{raw: raw, fields: fields}
	if m, ok := fields["model"]; ok {
		b.modelAt = m
		if json.Unmarshal(m.value, &b.model) != nil {
			return topBody{}, badRequest("model", "model must be a string")
		}
	}
	return b, nil
}

// intField is the whole number at name in fields, or def when it is
// absent or not one.
func intField(fields map[string]member, name string, def int) int {
	v, ok := fields[name]
	if !ok {
		return def
	}
	var n int
	if json.Unmarshal(v.value, &n) != nil || n < 0 {
		return def
	}
	return n
}
