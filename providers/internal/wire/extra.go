// Package wire holds what the wire-format packages share: the unmodelled
// JSON fields a proxy must pass through.
package wire

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
)

// Extra holds JSON fields a wire type does not model, so a proxy passes
// them through untouched.
type Extra map[string]json.RawMessage

// knownFields caches each struct type's JSON field names.
var knownFields sync.Map // reflect.Type -> map[string]bool

func jsonNames(t reflect.Type) map[string]bool {
	if v, ok := knownFields.Load(t); ok {
		return v.(map[string]bool)
	}
	names := map[string]bool{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
	knownFields.Store(t, names)
	return names
}

// UnmarshalWithExtra decodes data into known (a pointer to the plain alias
// struct) and returns the fields it does not model.
func UnmarshalWithExtra(data []byte, known any) (Extra, error) {
	if err := json.Unmarshal(data, known); err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	names := jsonNames(reflect.TypeOf(known).Elem())
	var extra Extra
	for k, v := range all {
		if !names[k] {
			if extra == nil {
				extra = Extra{}
			}
			extra[k] = v
		}
	}
	return extra, nil
}

// MarshalWithExtra encodes known (the plain alias struct) and adds the
// extra fields it does not already hold.
func MarshalWithExtra(known any, extra Extra) ([]byte, error) {
	b, err := json.Marshal(known)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	for k, v := range extra {
		if _, ok := all[k]; !ok {
			all[k] = v
		}
	}
	return json.Marshal(all)
}
