package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// SDKClient is an official SDK's client plugged into an endpoint with
// transport "sdk". Do sends one prepared request (method, absolute URL,
// headers including auth, body) through the SDK and returns the raw response
// unread; the endpoint reads, retries and closes it, so Call and Stream
// behave exactly as over plain HTTP.
//
// On Stop the endpoint calls whichever of Close() error, Close(ctx) error and
// CloseIdleConnections() the client has, then closes the idle connections of
// the *http.Client it handed to the factory.
type SDKClient interface {
	Do(req *http.Request) (*http.Response, error)
}

// SDKFactory builds an SDK client on Start, from the endpoint's config (with
// defaults applied) and its own *http.Client, which the SDK must use so that
// the endpoint owns the connection pool.
type SDKFactory func(ctx context.Context, cfg Config, hc *http.Client) (SDKClient, error)

// closeSDK closes c by whichever method it has, turning a panic into an
// error so one bad client cannot stop the rest of the cleanup.
func closeSDK(ctx context.Context, c SDKClient) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("close panicked: %v", v)
		}
	}()
	switch cl := c.(type) {
	case interface{ Close(context.Context) error }:
		return cl.Close(ctx)
	case interface{ Close() error }:
		return cl.Close()
	case interface{ CloseIdleConnections() }:
		cl.CloseIdleConnections()
	}
	return nil
}

// ErrNoSDK is New's error for transport "sdk" without WithSDK.
var ErrNoSDK = errors.New("transport sdk needs an SDK factory (endpoint.WithSDK)")
