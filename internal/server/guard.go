package server

import (
	"net/http"

	"google.golang.org/grpc"
)

// guard holds what WithAuthentication installs; its zero value installs
// nothing.
type guard struct {
	unary  grpc.UnaryServerInterceptor
	stream grpc.StreamServerInterceptor
	rest   func(http.Handler) http.Handler
}

// WithAuthentication puts unary and stream in front of every call of
// every service on the gRPC server, before any other interceptor (so a
// caller without credentials learns nothing else), and wraps the REST
// surface in rest. REST calls are transcoded into calls on the same gRPC
// server, so they meet the interceptors too, after rest; /healthz and
// WithHandler routes meet neither (they do their own).
func WithAuthentication(unary grpc.UnaryServerInterceptor, stream grpc.StreamServerInterceptor, rest func(http.Handler) http.Handler) Option {
	return func(c *config) { c.guard = guard{unary: unary, stream: stream, rest: rest} }
}

// WithAPIHandler mounts h like WithHandler, for a route of an API that
// the transcoder cannot serve (a hand-written REST route): WithAuthentication's
// REST middleware applies to it as to the REST surface.
func WithAPIHandler(pattern string, h http.Handler) Option {
	return func(c *config) { c.handlers = append(c.handlers, mount{pattern: pattern, handler: h, api: true}) }
}

func (g guard) grpcOptions() []grpc.ServerOption {
	var opts []grpc.ServerOption
	if g.unary != nil {
		opts = append(opts, grpc.ChainUnaryInterceptor(g.unary))
	}
	if g.stream != nil {
		opts = append(opts, grpc.ChainStreamInterceptor(g.stream))
	}
	return opts
}

func (g guard) wrapREST(h http.Handler) http.Handler {
	if g.rest == nil {
		return h
	}
	return g.rest(h)
}
