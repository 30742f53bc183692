package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/khive-go/khive/providers"
)

// chatBody is a chat request of about size bytes: flat puts the bulk in one
// message; wide spreads it over top-level keys of about 12 bytes each (the
// shape that once cost a map decode and a sorted re-encode).
func chatBody(size int, wide bool) []byte {
	var b bytes.Buffer
	b.WriteString(`{"model":"client-model","messages":[{"role":"user","content":"`)
	if !wide {
		b.WriteString(strings.Repeat("a", size))
		b.WriteString(`"}]}`)
		return b.Bytes()
	}
	b.WriteString(`hi"}]`)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	b.WriteString("}")
	return b.Bytes()
}

// BenchmarkChatPassThroughBody is the gateway's handling of a chat request
// body on its way to a pass-through endpoint: read, routed fields found,
// model spliced. ns/op and B/op should grow with the size alone (linear),
// flat or wide:
//
//	go test -run '^$' -bench ChatPassThroughBody -benchmem ./app/gateway/
func BenchmarkChatPassThroughBody(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20, 8 << 20} {
		for _, wide := range []bool{false, true} {
			shape := "flat"
			if wide {
				shape = "wide"
			}
			body := chatBody(size, wide)
			// The baseline, in the same run: what the gateway did before, a
			// decode of the top level into a map and a sorted re-encode.
			b.Run(fmt.Sprintf("map-baseline/%s/%dKiB", shape, size>>10), func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					var fields map[string]json.RawMessage
					if err := json.Unmarshal(body, &fields); err != nil {
						b.Fatal(err)
					}
					fields["model"] = json.RawMessage(`"target"`)
					if _, err := json.Marshal(fields); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("%s/%dKiB", shape, size>>10), func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					r, _ := http.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body))
					c, aerr := readChat(r)
					if aerr != nil {
						b.Fatal(aerr)
					}
					if _, err := c.plan(route{model: "target", kind: providers.KindChat}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
