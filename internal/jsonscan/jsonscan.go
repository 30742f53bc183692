// Package jsonscan reads the members of JSON objects and the elements of
// arrays without decoding them: one pass over the bytes, values skipped
// (strings, nested objects and arrays) rather than parsed, nothing
// allocated. It finds structure, not validity: a value's own bytes are not
// checked (encoding/json does that where it matters). It never panics,
// whatever the input: what does not hold together is an error.
package jsonscan

import (
	"encoding/json"
	"errors"
	"slices"
)

// ErrSyntax is input whose structure does not hold: not an object (or an
// array) where one is read, or one that ends early.
var ErrSyntax = errors.New("jsonscan: malformed JSON")

// Members calls f with each member of the object raw holds (space around
// it allowed): its key, unescaped, and where its value lies
// (raw[start:end]), in order, until f returns false. A repeated key is
// given each time.
func Members(raw []byte, f func(key []byte, start, end int) bool) error {
	i := SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return ErrSyntax
	}
	i = SkipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return nil
	}
	for i < len(raw) {
		if raw[i] != '"' {
			return ErrSyntax
		}
		kEnd, ok := skipString(raw, i)
		if !ok {
			return ErrSyntax
		}
		key := raw[i+1 : kEnd-1]
		if slices.Contains(key, '\\') { // an escaped key: rare, decoded
			var k string
			if json.Unmarshal(raw[i:kEnd], &k) != nil {
				return ErrSyntax
			}
			key = []byte(k)
		}
		i = SkipSpace(raw, kEnd)
		if i >= len(raw) || raw[i] != ':' {
			return ErrSyntax
		}
		start := SkipSpace(raw, i+1)
		end, ok := SkipValue(raw, start)
		if !ok {
			return ErrSyntax
		}
		if !f(key, start, end) {
			return nil
		}
		var closed bool
		if i, closed, ok = next(raw, end, '}'); !ok {
			return ErrSyntax
		} else if closed {
			return nil
		}
	}
	return ErrSyntax
}

// next reads what follows a member or element ending at i: the container's
// closer (closed), or a comma and the space after it (i is then the next
// one's start); anything else is not ok.
func next(b []byte, i int, closer byte) (at int, closed, ok bool) {
	if i = SkipSpace(b, i); i >= len(b) {
		return i, false, false
	}
	switch b[i] {
	case closer:
		return i + 1, true, true
	case ',':
		return SkipSpace(b, i+1), false, true
	}
	return i, false, false
}

// Elements calls f with where each element of the array raw holds lies
// (raw[start:end]), in order, until f returns false.
func Elements(raw []byte, f func(start, end int) bool) error {
	i := SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return ErrSyntax
	}
	i = SkipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return nil
	}
	for i < len(raw) {
		end, ok := SkipValue(raw, i)
		if !ok {
			return ErrSyntax
		}
		if !f(i, end) {
			return nil
		}
		var closed bool
		if i, closed, ok = next(raw, end, ']'); !ok {
			return ErrSyntax
		} else if closed {
			return nil
		}
	}
	return ErrSyntax
}

// String is the string value v holds, unescaped; "" and false for
// anything else (null included).
func String(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	if s := v[1 : len(v)-1]; !slices.Contains(s, '\\') {
		return string(s), true
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// SkipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] ('"').
func skipString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return len(b), false
}

// SkipValue returns the index after the value starting at b[i], and false
// when it does not end (or there is none).
func SkipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, ok := skipString(b, i)
				if !ok {
					return len(b), false
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, true
				}
			}
		}
		return len(b), false
	case '}', ']', ',', ':':
		return i, false
	}
	start := i
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i, i > start
}
