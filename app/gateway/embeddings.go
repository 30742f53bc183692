package gateway

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/providers"
	"github.com/khive-go/khive/providers/openai"
)

func (s *Server) embeddings(w http.ResponseWriter, r *http.Request, x *exchange) *apiError {
	var req openai.EmbeddingsRequest
	if aerr := readJSON(r, &req); aerr != nil {
		return aerr
	}
	if req.Model == "" {
		return badRequest("model", "you must provide a model parameter")
	}
	if len(req.Input) == 0 || string(req.Input) == "null" {
		return badRequest("input", "input is required")
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		return badRequest("encoding_format", "encoding_format must be float or base64")
	}
	x.model = req.Model
	routes, aerr := s.resolve(x, req.Model, providers.KindEmbeddings)
	if aerr != nil {
		return aerr
	}
	// Upstreams are always asked for floats (not every compatible server
	// speaks base64); the gateway encodes for clients that asked for it.
	wantBase64 := req.EncodingFormat == "base64"
	req.EncodingFormat = "float"
	ctx := r.Context()
	return s.eachRoute(ctx, routes, x, func(ctx context.Context, rt route) (bool, error) {
		req.Model = rt.model
		body, err := json.Marshal(req)
		if err != nil {
			return false, badRequest("", "could not encode the request: %v", err)
		}
		var convert func([]byte) ([]byte, error)
		if wantBase64 {
			convert = toBase64
		}
		return s.callAndWrite(ctx, w, rt, endpoint.Request{Body: json.RawMessage(body)}, x, convert)
	})
}

// toBase64 rewrites float embeddings as base64 of little-endian float32s,
// as OpenAI does for encoding_format "base64". Embeddings already in base64
// pass as they are.
func toBase64(body []byte) ([]byte, error) {
	var resp openai.EmbeddingsResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	for i, d := range resp.Data {
		if len(d.Embedding) == 0 || d.Embedding[0] != '[' {
			continue
		}
		var floats []float64
		if err := json.Unmarshal(d.Embedding, &floats); err != nil {
			return nil, err
		}
		buf := make([]byte, 4*len(floats))
		for j, f := range floats {
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(float32(f)))
		}
		enc, _ := json.Marshal(base64.StdEncoding.EncodeToString(buf))
		resp.Data[i].Embedding = enc
	}
	return json.Marshal(resp)
}
