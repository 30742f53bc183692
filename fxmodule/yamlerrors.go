package fxmodule

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/khive-go/khive/internal/fielderr"
	"go.yaml.in/yaml/v3"
)

// yamlFieldErrors rewrites the decoder's type errors ("line 7: field x not
// found in type fxmodule.EndpointConfig", "line 9: cannot unmarshal !!str
// `abc` into time.Duration") as errors naming the field by its path, as
// validation does ("endpoints.chat.timeout: cannot read "abc" as a duration
// (e.g. 30s)"). doc is the document the decoder read, for the lines. Other
// errors are returned as they are.
func yamlFieldErrors(err error, doc []byte) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var root yaml.Node
	if yaml.Unmarshal(doc, &root) != nil {
		return err
	}
	paths := map[int][]located{}
	walkPaths(&root, "", paths)
	var out []error
	for _, msg := range te.Errors {
		out = append(out, fieldError(msg, paths))
	}
	return errors.Join(out...)
}

// located is a field's path and the value written on one line.
type located struct {
	path, value string
	key         bool // the line has the key (else only the value)
}

func walkPaths(n *yaml.Node, path string, paths map[int][]located) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walkPaths(c, path, paths)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			paths[k.Line] = append(paths[k.Line], located{path: p, value: v.Value, key: true})
			if v.Line != k.Line {
				paths[v.Line] = append(paths[v.Line], located{path: p, value: v.Value})
			}
			walkPaths(v, p, paths)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			paths[c.Line] = append(paths[c.Line], located{path: p, value: c.Value})
			walkPaths(c, p, paths)
		}
	}
}

var (
	reLine     = regexp.MustCompile(`^line (\d+): (.*)$`)
	reNotFound = regexp.MustCompile(`^field (\S+) not found in type `)
	reCannot   = regexp.MustCompile("^cannot unmarshal !!\\w+ (?:`(.*)` )?into (.+)$")
	reDupKey   = regexp.MustCompile(`^mapping key "(.*)" already defined`)
)

func fieldError(msg string, paths map[int][]located) error {
	m := reLine.FindStringSubmatch(msg)
	if m == nil {
		return errors.New(msg)
	}
	line, _ := strconv.Atoi(m[1])
	rest := m[2]
	at := paths[line]
	pick := func(match func(located) bool) string {
		for _, l := range at {
			if match(l) {
				return l.path
			}
		}
		if len(at) > 0 {
			return at[0].path
		}
		return "line " + m[1]
	}
	switch {
	case reNotFound.MatchString(rest):
		name := reNotFound.FindStringSubmatch(rest)[1]
		return &fielderr.Error{Path: pick(func(l located) bool { return l.key && strings.HasSuffix(l.path, name) }), Msg: "unknown field"}
	case reCannot.MatchString(rest):
		c := reCannot.FindStringSubmatch(rest)
		value, typ := c[1], c[2]
		path := pick(func(l located) bool { return value != "" && l.value == value })
		if value == "" {
			return &fielderr.Error{Path: path, Msg: "must be " + typeWords(typ)}
		}
		return &fielderr.Error{Path: path, Msg: fmt.Sprintf("cannot read %q as %s", value, typeWords(typ))}
	case reDupKey.MatchString(rest):
		name := reDupKey.FindStringSubmatch(rest)[1]
		return &fielderr.Error{Path: pick(func(l located) bool { return l.key && strings.HasSuffix(l.path, name) }), Msg: "set twice"}
	}
	return &fielderr.Error{Path: pick(func(located) bool { return true }), Msg: rest}
}

// typeWords names a Go type as a config's reader knows it.
func typeWords(typ string) string {
	switch {
	case typ == "time.Duration":
		return "a duration (e.g. 30s, 2m)"
	case strings.HasPrefix(typ, "int"), strings.HasPrefix(typ, "uint"):
		return "a whole number"
	case strings.HasPrefix(typ, "float"):
		return "a number"
	case typ == "bool":
		return "true or false"
	case typ == "string", strings.HasSuffix(typ, ".Secret"):
		return "a string"
	case strings.HasPrefix(typ, "[]"):
		return "a list"
	}
	return "a mapping"
}
