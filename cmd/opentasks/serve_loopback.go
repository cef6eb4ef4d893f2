package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"

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
	h atomic.Pointer[http.Handler] // nil until the server's handler exists
}

// serve makes h the handler requests go to.
func (l *loopback) serve(h http.Handler) { l.h.Store(&h) }

// transport returns the RoundTripper of executions whose workflow runs as
// serviceAccount (none: "").
func (l *loopback) transport(serviceAccount string) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		h := l.h.Load()
		if h == nil {
			return nil, errors.New("the server is not serving yet")
		}
		ctx := req.Context()
		if serviceAccount != "" {
			ctx = auth.WithPrincipal(ctx, auth.Principal{Member: "serviceAccount:" + serviceAccount})
		}
		in := req.Clone(ctx)
		in.RequestURI, in.RemoteAddr, in.Host = req.URL.RequestURI(), "loopback", req.URL.Host
		if in.Body == nil {
			in.Body = http.NoBody
		}
		rec := &recorded{header: http.Header{}, code: http.StatusOK}
		(*h).ServeHTTP(rec, in)
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
