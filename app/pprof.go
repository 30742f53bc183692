package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"os"

	"go.uber.org/zap"
)

// servePprof serves Go's profiles (net/http/pprof) on KHIVE_PPROF's
// address, when it is set, for profiling the gateway under load (the
// benchmarks in bench/ do): a loopback address, since the profiles are
// not behind the gateway's keys. It returns the listener to close at exit.
func servePprof(log *zap.Logger) (stop func(), err error) {
	addr := os.Getenv("KHIVE_PPROF")
	if addr == "" {
		return func() {}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, errors.New("KHIVE_PPROF must be a loopback address (the profiles are not behind the gateway's keys)")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	log.Info("profiles served", zap.String("addr", l.Addr().String()))
	return func() { _ = srv.Close() }, nil
}
