package executor

import (
	"errors"
	"fmt"
)

// FieldError is one problem with a config field: Path names the field as
// the YAML spells it ("burst", "limits.burst", "endpoints.chat.timeout"),
// Msg says what is wrong. Every validator in khive reports these, joined
// with errors.Join; match one with errors.As.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// FieldErrors collects a validator's problems.
type FieldErrors []error

// Add records a problem with the field at path.
func (fe *FieldErrors) Add(path, format string, args ...any) {
	*fe = append(*fe, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Under records the problems err holds under prefix (a FieldError's path
// becomes prefix.path; another error becomes a problem of prefix itself).
func (fe *FieldErrors) Under(prefix string, err error) {
	for _, e := range Unjoin(err) {
		var f *FieldError
		if errors.As(e, &f) {
			*fe = append(*fe, &FieldError{Path: join(prefix, f.Path), Msg: f.Msg})
			continue
		}
		*fe = append(*fe, &FieldError{Path: prefix, Msg: e.Error()})
	}
}

// Err is the problems joined, nil when there are none.
func (fe FieldErrors) Err() error { return errors.Join(fe...) }

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
