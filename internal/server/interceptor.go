package server

import "google.golang.org/grpc"

// WithUnaryInterceptor runs i around every API call, gRPC or REST (REST is
// transcoded onto the same gRPC server), outside the server's own
// interceptors: it sees calls the server rejects before the service, and
// a panic in the service as the INTERNAL error it becomes.
func WithUnaryInterceptor(i grpc.UnaryServerInterceptor) Option {
	return func(c *config) { c.interceptors = append(c.interceptors, i) }
}
