package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/khive-go/khive/endpoint"
	"github.com/khive-go/khive/internal/jsonscan"
	"go.uber.org/zap"
)

// callAndWrite calls the endpoint and writes its answer, through convert
// when the formats differ.
func (s *Server) callAndWrite(ctx context.Context, w http.ResponseWriter, rt route, req endpoint.Request, x *exchange, convert func([]byte) ([]byte, error)) (bool, error) {
	resp, err := rt.ep.Call(ctx, req)
	if err != nil {
		return false, err
	}
	x.attempts += resp.Attempts
	x.noteUsage(rt.ep.Dialect().Answer(resp.Body))
	body := resp.Body
	if convert != nil {
		body, err = convert(resp.Body)
	} else if !jsonscan.Valid(body) {
		err = errMalformed
	}
	if err != nil {
		s.log.Warn("unreadable upstream answer", zap.String("endpoint", rt.ep.Name()), zap.Error(err))
		return false, errMalformed // another target may answer properly
	}
	writeUpstream(w, rt, resp.Status, body)
	return true, nil
}

// errMalformed is an upstream 2xx whose body is not what its format says.
var errMalformed = errors.New("the upstream's answer could not be read")

// jsonType is a Content-Type header's value; net/http copies a handler's
// header when it writes it, so one slice serves every answer.
var jsonType = []string{"application/json"}

func writeUpstream(w http.ResponseWriter, rt route, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonType
	h["X-Khive-Endpoint"] = []string{rt.ep.Name()}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
