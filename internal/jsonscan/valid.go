package jsonscan

// maxDepth bounds the nesting Valid accepts, as encoding/json bounds its
// own (10000).
const maxDepth = 10000

// Valid reports whether b is one JSON value (RFC 8259), with space around
// it allowed: what encoding/json.Valid reports, in one pass without its
// per-byte state machine.
func Valid(b []byte) bool {
	v := validator{b: b}
	i, ok := v.value(SkipSpace(b, 0), 0)
	return ok && SkipSpace(b, i) == len(b)
}

type validator struct{ b []byte }

func (v validator) value(i, depth int) (int, bool) {
	b := v.b
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '{':
		return v.object(i, depth+1)
	case c == '[':
		return v.array(i, depth+1)
	case c == '"':
		return v.string(i)
	case c == '-' || (c >= '0' && c <= '9'):
		return v.number(i)
	case c == 't':
		return v.literal(i, "true")
	case c == 'f':
		return v.literal(i, "false")
	case c == 'n':
		return v.literal(i, "null")
	}
	return i, false
}

func (v validator) object(i, depth int) (int, bool) {
	if depth > maxDepth {
		return i, false
	}
	b := v.b
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		var ok bool
		if i, ok = v.string(i); !ok {
			return i, false
		}
		if i = SkipSpace(b, i); i >= len(b) || b[i] != ':' {
			return i, false
		}
		if i, ok = v.value(SkipSpace(b, i+1), depth); !ok {
			return i, false
		}
		var closed bool
		if i, closed, ok = next(b, i, '}'); !ok || closed {
			return i, ok
		}
	}
}

func (v validator) array(i, depth int) (int, bool) {
	if depth > maxDepth {
		return i, false
	}
	b := v.b
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = v.value(i, depth); !ok {
			return i, false
		}
		var closed bool
		if i, closed, ok = next(b, i, ']'); !ok || closed {
			return i, ok
		}
	}
}

// string checks the string at b[i] ('"'): escapes, no control bytes, and
// UTF-8 as encoding/json checks it (it accepts invalid UTF-8, replacing
// it when decoding, so Valid does not check the encoding).
func (v validator) string(i int) (int, bool) {
	b := v.b
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			if i++; i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return i, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return i, false
					}
				}
				i += 4
			default:
				return i, false
			}
		}
	}
	return i, false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (v validator) number(i int) (int, bool) {
	b := v.b
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return i, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return i, false
		}
		i = j
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func (v validator) literal(i int, lit string) (int, bool) {
	if len(v.b)-i < len(lit) || string(v.b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}
