package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
)

// readBody reads the request body: 413 over the size limit.
func readBody(r *http.Request) ([]byte, *apiError) {
	b, err := readAll(r)
	if err != nil {
		return nil, bodyReadError(err)
	}
	return b, nil
}

// bodyReadError is the answer to a body that could not be read: 413 over
// the size limit, 408 past the read deadline, else 400.
func bodyReadError(err error) *apiError {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return tooLarge(tooBig.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &apiError{status: http.StatusRequestTimeout, typ: "invalid_request_error", code: "request_timeout",
			message: "the request body did not arrive within the gateway's read_timeout",
			header:  http.Header{"Connection": {"close"}}}
	}
	return badRequest("", "could not read the request body")
}

// readAll reads the body into a buffer of its Content-Length when it has
// one (MaxBytesReader has bounded it): no growth, no garbage of the sizes
// it passed through.
func readAll(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= 1<<30 {
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		// Read on to the end: the body's io.EOF is what ends the read
		// deadline (see deadlineBody). net/http gives it with the last
		// bytes of a body of declared length, so this is seldom needed.
		if d, ok := r.Body.(*deadlineBody); !ok || !d.done {
			if _, err := r.Body.Read(make([]byte, 1)); err != nil && err != io.EOF {
				return nil, err
			}
		}
		return b, nil
	}
	return io.ReadAll(r.Body)
}

func tooLarge(limit int64) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error", code: "request_too_large",
		message: fmt.Sprintf("the request body is over %d bytes", limit)}
}

// readJSON decodes the request body into v: 413 over the size limit, 400
// for anything that is not JSON.
func readJSON(r *http.Request, v any) *apiError {
	b, aerr := readBody(r)
	if aerr != nil {
		return aerr
	}
	if err := json.Unmarshal(b, v); err != nil {
		return badRequest("", "could not parse the JSON body: %v", err)
	}
	return nil
}
