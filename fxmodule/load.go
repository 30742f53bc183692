package fxmodule

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/khive-go/khive/internal/fielderr"
	"go.yaml.in/yaml/v3"
)

// LoadConfig reads a YAML config file, expands ${VAR} and ${VAR:-default}
// in its values, rejects unknown fields and validates everything, reporting
// all errors with their paths.
func LoadConfig(path string) (Config, error) {
	var c Config
	return c.checked(path, LoadYAML(path, &c))
}

// parseConfig is LoadConfig on YAML text (an embedded config), with the
// process's environment for the variables.
func parseConfig(yaml string) (Config, error) {
	var c Config
	return c.checked("", DecodeYAML([]byte(yaml), &c, os.Getenv))
}

// checked validates c, read from path with the error err, and reports the
// fields that could not be read and those that are wrong together.
func (c Config) checked(path string, err error) (Config, error) {
	var fe *FileError
	if err != nil && !errors.As(err, &fe) {
		return Config{}, err // unreadable: nothing to validate
	}
	// Fields that could not be read and fields that are wrong, in one report.
	if verr := c.Validate(); verr != nil || err != nil {
		return Config{}, &FileError{Path: path, Errs: append(fieldsOf(err), fielderr.Unjoin(verr)...)}
	}
	return c, nil
}

// FileError is every problem found in a config file: fields the YAML
// decoder could not read and fields validation rejected, each naming its
// path. Error prints them one per line.
type FileError struct {
	Path string
	Errs []error
}

func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.Path != "" {
		b.WriteString(" " + e.Path)
	}
	b.WriteString(":")
	for _, err := range e.Errs {
		b.WriteString("\n  " + err.Error())
	}
	return b.String()
}

// Unwrap gives errors.Is and errors.As the problems.
func (e *FileError) Unwrap() []error { return e.Errs }

// fieldsOf is a FileError's problems, none for nil.
func fieldsOf(err error) []error {
	var fe *FileError
	if errors.As(err, &fe) {
		return fe.Errs
	}
	return nil
}

// LoadYAML decodes the YAML file at path into out with environment
// expansion and unknown fields rejected. Applications embedding Config in a
// larger file use it with their own type. Fields that cannot be read
// (unknown, or of the wrong type) come back as a *FileError naming each by
// its path, with out holding everything else; a file that cannot be read
// or parsed at all is a plain error.
func LoadYAML(path string, out any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := DecodeYAML(b, out, os.Getenv); err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			fe.Path = path
			return fe
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// DecodeYAML is LoadYAML on bytes, with getenv supplying the variables;
// fields it cannot read come back as a *FileError without a path.
func DecodeYAML(b []byte, out any, getenv func(string) string) error {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return err
	}
	if root.Kind == 0 {
		return nil // empty file
	}
	expandNode(&root, getenv)
	expanded, err := yaml.Marshal(&root)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return &FileError{Errs: fielderr.Unjoin(yamlFieldErrors(err, expanded))}
		}
		return err
	}
	return nil
}

// expandNode expands variables in every scalar value. An unquoted value
// whose expansion changed is re-resolved, so "${N:-4}" can fill an int.
func expandNode(n *yaml.Node, getenv func(string) string) {
	if n.Kind == yaml.ScalarNode {
		if v := Expand(n.Value, getenv); v != n.Value {
			n.Value = v
			if n.Style == 0 || n.Style == yaml.TaggedStyle && n.Tag == "!!str" {
				n.Tag = ""
			}
		}
		return
	}
	for _, c := range n.Content {
		expandNode(c, getenv)
	}
}

// Expand replaces ${VAR} with getenv(VAR) and ${VAR:-default} with the
// default when VAR is unset or empty. Anything else is left as written.
func Expand(s string, getenv func(string) string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		name, def, hasDef := strings.Cut(s[i+2:i+j], ":-")
		v := getenv(name)
		if v == "" && hasDef {
			v = def
		}
		b.WriteString(v)
		s = s[i+j+1:]
	}
}
