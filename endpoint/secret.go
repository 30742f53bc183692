package endpoint

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Secret holds an API key. It prints as [redacted] under every fmt verb,
// JSON, YAML, text marshalling and zap; only Reveal returns the value. The
// value sits behind a pointer so that even reflection-based printing of a
// struct holding a Secret in an unexported field shows an address, not the key.
type Secret struct {
	v *string
}

const redacted = "[redacted]"

// NewSecret wraps s.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{v: &s}
}

// Reveal returns the secret value. Call it only where the value is sent.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// scrubAnywhere is the length from which a secret is scrubbed wherever it
// occurs: no real API key is shorter, and a string this long inside other
// text is the key. A shorter secret (a test's "k") is scrubbed only where
// it stands as a whole word, so that "fake" does not become "fa[redacted]e".
const scrubAnywhere = 8

// Scrub returns text with every occurrence of the secret replaced by
// [redacted]: anywhere for a secret of 8 bytes or more, only as a whole
// word (between characters other than letters, digits, '-' and '_') for a
// shorter one. Errors and logs built from what a provider sent pass
// through it, should the provider echo the key.
func (s Secret) Scrub(text string) string {
	key := s.Reveal()
	if key == "" || !strings.Contains(text, key) {
		return text
	}
	if len(key) >= scrubAnywhere {
		return strings.ReplaceAll(text, key, redacted)
	}
	var b strings.Builder
	for off := 0; ; {
		i := strings.Index(text[off:], key)
		if i < 0 {
			b.WriteString(text[off:])
			return b.String()
		}
		start, end := off+i, off+i+len(key)
		b.WriteString(text[off:start])
		if (start == 0 || !wordByte(text[start-1])) && (end == len(text) || !wordByte(text[end])) {
			b.WriteString(redacted)
		} else {
			b.WriteString(key)
		}
		off = end
	}
}

func wordByte(c byte) bool {
	return c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == nil || *s.v == "" }

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return redacted }

// Format prints [redacted] for every verb (%v, %+v, %#v, %s, %q, %x, ...).
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON writes "[redacted]".
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// MarshalText writes [redacted]; YAML encoders use it too.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// UnmarshalText reads the secret from config text (YAML, env).
func (s *Secret) UnmarshalText(b []byte) error {
	*s = NewSecret(string(b))
	return nil
}

// UnmarshalJSON reads the secret from a JSON string.
func (s *Secret) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("secret: must be a JSON string")
	}
	*s = NewSecret(v)
	return nil
}
