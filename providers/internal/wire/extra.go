// Package wire holds what the wire-format packages share: the unmodelled
// JSON fields a proxy must pass through.
package wire

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Extra holds JSON fields a wire type does not model, so a proxy passes
// them through untouched.
type Extra map[string]json.RawMessage

// fieldIndexes caches each struct type's JSON field names and indexes.
var fieldIndexes sync.Map // reflect.Type -> map[string]int

func jsonFields(t reflect.Type) map[string]int {
	if v, ok := fieldIndexes.Load(t); ok {
		return v.(map[string]int)
	}
	idx := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		idx[name] = i
	}
	fieldIndexes.Store(t, idx)
	return idx
}

// UnmarshalWithExtra decodes a JSON object into known (a pointer to the
// plain alias struct) and returns the fields it does not model. The object
// is split into its fields once; each known field's value is then decoded
// into its place, each unknown one kept as it came.
func UnmarshalWithExtra(data []byte, known any) (Extra, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	return DecodeFields(all, known)
}

// DecodeFields is UnmarshalWithExtra on an object already split into its
// fields (as a router that read a few of them has it): known fields are
// decoded into known, the rest returned.
func DecodeFields(all map[string]json.RawMessage, known any) (Extra, error) {
	v := reflect.ValueOf(known).Elem()
	idx := jsonFields(v.Type())
	var extra Extra
	for k, raw := range all {
		i, ok := idx[k]
		if !ok {
			if extra == nil {
				extra = Extra{}
			}
			extra[k] = raw
			continue
		}
		if err := json.Unmarshal(raw, v.Field(i).Addr().Interface()); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	return extra, nil
}

// MarshalWithExtra encodes known (the plain alias struct) and appends the
// extra fields it does not model, in one pass: the struct's fields in
// their order, then the extra ones sorted by name.
func MarshalWithExtra(known any, extra Extra) ([]byte, error) {
	b, err := json.Marshal(known)
	if err != nil || len(extra) == 0 || len(b) < 2 || b[len(b)-1] != '}' {
		return b, err
	}
	idx := jsonFields(reflect.TypeOf(known))
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if _, modelled := idx[k]; !modelled {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := b[:len(b)-1]
	for _, k := range keys {
		if len(out) > 1 {
			out = append(out, ',')
		}
		name, _ := json.Marshal(k)
		out = append(out, name...)
		out = append(out, ':')
		out = append(out, extra[k]...)
	}
	return append(out, '}'), nil
}
