package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/khive-go/khive/internal/jsonscan"
)

// member is one top-level member's value: its bytes, and where they lie in
// the body.
type member struct {
	value      json.RawMessage
	start, end int
}

var errNotObject = errors.New("the JSON body must be an object")

// maxWanted is how many members a read can ask for (besides model).
const maxWanted = 7

// members are the top-level members a body was read for, found in place:
// the model's, and those of the names asked for, by name. It holds them
// inline, so that reading a request allocates no map.
type members struct {
	names []string
	vals  [maxWanted]member
	model member
}

// get is the member named name (one of those asked for), and whether the
// body has it.
func (m *members) get(name string) (member, bool) {
	for i, n := range m.names {
		if n == name {
			return m.vals[i], m.vals[i].value != nil
		}
	}
	return member{}, false
}

// topFields reads the top-level members of a JSON object in one pass,
// keeping the model's value and those of the keys in want (the last,
// should a key repeat; at most maxWanted keys) and decoding none: the cost
// is linear in the body, however many members it has.
func topFields(raw []byte, want ...string) (members, error) {
	out := members{names: want[:min(len(want), maxWanted)]}
	err := jsonscan.Members(raw, func(key []byte, start, end int) bool {
		m := member{value: raw[start:end], start: start, end: end}
		if string(key) == "model" { // compared without a copy
			out.model = m
		}
		for i, w := range out.names {
			if string(key) == w {
				out.vals[i] = m
			}
		}
		return true
	})
	if err != nil {
		return members{}, errNotObject
	}
	return out, nil
}

// withValue returns raw with the member m's value replaced by v: the rest
// of the body byte for byte as the client sent it.
func withValue(raw []byte, m member, v []byte) []byte {
	out := make([]byte, 0, len(raw)-(m.end-m.start)+len(v))
	out = append(out, raw[:m.start]...)
	out = append(out, v...)
	return append(out, raw[m.end:]...)
}

// withString is withValue with the JSON string s: a string that needs no
// escape (a model's name) is quoted as it is, in the one copy of raw.
func withString(raw []byte, m member, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			v, _ := json.Marshal(s)
			return withValue(raw, m, v)
		}
	}
	out := make([]byte, 0, len(raw)-(m.end-m.start)+len(s)+2)
	out = append(out, raw[:m.start]...)
	out = append(out, '"')
	out = append(out, s...)
	out = append(out, '"')
	return append(out, raw[m.end:]...)
}

// topBody is a request body read for routing: the body as sent, its model
// (and where it lies), and the other top-level fields asked for.
type topBody struct {
	raw     []byte
	model   string
	modelAt member
	fields  members
}

// readTop reads the request's body and finds its model and the fields in
// want: 413 over the size limit, 400 for a body that is not a JSON object
// or a model that is not a string.
func readTop(r *http.Request, want ...string) (topBody, *apiError) {
	raw, aerr := readBody(r)
	if aerr != nil {
		return topBody{}, aerr
	}
	if !jsonscan.Valid(raw) {
		var v any
		err := json.Unmarshal(raw, &v) // its message says where
		return topBody{}, badRequest("", "could not parse the JSON body: %v", err)
	}
	fields, err := topFields(raw, want...)
	if err != nil {
		return topBody{}, badRequest("", "could not parse the JSON body: %v", err)
	}
	b := topBody{raw: raw, fields: fields}
	if m := fields.model; m.value != nil {
		b.modelAt = m
		var ok bool
		if b.model, ok = jsonscan.String(m.value); !ok {
			return topBody{}, badRequest("model", "model must be a string")
		}
	}
	return b, nil
}

// intField is the whole number at name in fields, or def when it is
// absent or not one.
func intField(fields *members, name string, def int) int {
	v, ok := fields.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(string(v.value)) // no copy: the conversion does not escape
	if err != nil || n < 0 {
		return def
	}
	return n
}
