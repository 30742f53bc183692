// Package fielderr is the config validators' error: one problem per field,
// named by its YAML path. Users match it as khive.FieldError.
package fielderr

import (
	"errors"
	"fmt"
)

// Error is one problem with a config field: Path names the field as
// the YAML spells it ("burst", "limits.burst", "endpoints.chat.timeout"),
// Msg says what is wrong. Every validator in khive reports these, joined
// with errors.Join; match one with errors.As.
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string { return e.Path + ": " + e.Msg }

// List collects a validator's problems.
type List []error

// Add records a problem with the field at path.
func (fe *List) Add(path, format string, args ...any) {
	*fe = append(*fe, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Under records the problems err holds under prefix (an Error's path
// becomes prefix.path; another error becomes a problem of prefix itself).
func (fe *List) Under(prefix string, err error) {
	for _, e := range Unjoin(err) {
		var f *Error
		if errors.As(e, &f) {
			*fe = append(*fe, &Error{Path: join(prefix, f.Path), Msg: f.Msg})
			continue
		}
		*fe = append(*fe, &Error{Path: prefix, Msg: e.Error()})
	}
}

// Err is the problems joined, nil when there are none.
func (fe List) Err() error { return errors.Join(fe...) }

// Unjoin splits an errors.Join result into its parts, flattening joins of
// joins; nil gives none.
func Unjoin(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, Unjoin(e)...)
	}
	return out
}

func join(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	}
	return prefix + "." + path
}
