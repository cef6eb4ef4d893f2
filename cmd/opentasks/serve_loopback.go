package main

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	"github.com/opentasks/opentasks/internal/auth"
)

// loopback carries the connector requests of executions to this server's
// own handler, in-process. Over the network they would need the server's
// scheme, a client trusting its certificate and a credential it accepts;
// in-process they need none, and they carry the workflow's service account
// as their principal, which the authentication keeps (it is already in the
// context) and IAM then authorizes, as Cloud Workflows' connectors act as
// the workflow's service account.
type loopback struct {
	ready chan struct{} // closed once h is set
	h     http.Handler
}

func newLoopback() *loopback { return &loopback{ready: make(chan struct{})} }

// serve makes h the handler requests go to; those sent earlier (queued
// executions started before the server is built) wait for it.
func (l *loopback) serve(h http.Handler) {
	l.h = h
	close(l.ready)
}

// transport returns the RoundTripper of executions whose workflow runs as
// serviceAccount (none: "").
func (l *loopback) transport(serviceAccount string) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		ctx := req.Context()
		select {
		case <-l.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if serviceAccount != "" {
			ctx = auth.WithPrincipal(ctx, auth.Principal{Member: "serviceAccount:" + serviceAccount})
		}
		in := req.Clone(ctx)
		in.RequestURI, in.RemoteAddr, in.Host = req.URL.RequestURI(), "loopback", req.URL.Host
		if in.Body == nil {
			in.Body = http.NoBody
		}
		rec := &recorded{header: http.Header{}, code: http.StatusOK}
		l.h.ServeHTTP(rec, in)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return &http.Response{
			Status: strconv.Itoa(rec.code) + " " + http.StatusText(rec.code), StatusCode: rec.code,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: rec.header, Body: io.NopCloser(&rec.body), ContentLength: int64(rec.body.Len()),
			Request: req,
		}, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// recorded is a response written in-process.
type recorded struct {
	header      http.Header
	code        int
	wroteHeader bool
	body        bytes.Buffer
}

func (r *recorded) Header() http.Header { return r.header }

func (r *recorded) WriteHeader(code int) {
	if !r.wroteHeader {
		r.code, r.wroteHeader = code, true
	}
}

func (r *recorded) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// Flush is a no-op (the body is kept whole); handlers may require it.
func (r *recorded) Flush() {}
