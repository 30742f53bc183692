// Package sdkreq holds what the SDK transports share: turning the request
// an endpoint prepared back into the pieces an official SDK's Execute takes.
package sdkreq

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Split returns the request's path below base (the endpoint's base URL
// with a trailing slash) and its body (nil for none), as an SDK's Execute
// wants them; headers are the request's own.
func Split(req *http.Request, base string) (path string, body any, err error) {
	path, ok := strings.CutPrefix(req.URL.String(), base)
	if !ok {
		return "", nil, fmt.Errorf("sdk: URL outside the base URL")
	}
	if req.Body == nil || req.GetBody == nil {
		return path, nil, nil
	}
	rc, err := req.GetBody()
	if err != nil {
		return "", nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return "", nil, err
	}
	return path, b, nil
}

// Do sends the endpoint's prepared request through an SDK's Execute, with
// the request's headers (header makes the SDK's option) and the raw
// response captured (into), and returns that response, error statuses
// included (statusErr recognises the SDK's status error), for the endpoint
// to handle.
func Do[O any](req *http.Request, base string, header func(k, v string) O, into func(**http.Response) O,
	execute func(ctx context.Context, method, path string, params, res any, opts ...O) error, statusErr func(error) bool,
) (*http.Response, error) {
	path, params, err := Split(req, base)
	if err != nil {
		return nil, err
	}
	opts := make([]O, 0, len(req.Header)+1)
	for k, vs := range req.Header {
		if len(vs) > 0 {
			// An SDK option sets one value: list headers (several
			// anthropic-beta lines) go as one, comma-joined, as HTTP allows.
			opts = append(opts, header(k, strings.Join(vs, ", ")))
		}
	}
	var resp *http.Response
	opts = append(opts, into(&resp))
	err = execute(req.Context(), req.Method, path, params, &resp, opts...)
	if statusErr(err) && resp != nil {
		return resp, nil // a status error: its body was re-populated for us
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}
