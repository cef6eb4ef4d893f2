package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// logRequests logs every HTTP request but gRPC ones at debug level; those
// are logged by logUnary, which also sees gRPC calls that Serve hands to
// the gRPC server's own transport.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isGRPC(r) || !logger.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		logger.DebugContext(r.Context(), "request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
	})
}

// logUnary logs every RPC (gRPC, or REST after transcoding) at debug
// level, and at error level one that failed on the server's side
// (INTERNAL, UNKNOWN, DATA_LOSS: the store could not be read or written),
// which an operator must see whatever the level. Every other failure is
// the caller's and stays at debug. Panics are recoverUnary's to log.
func logUnary(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		debug := logger.Enabled(ctx, slog.LevelDebug)
		var start time.Time
		if debug {
			start = time.Now()
		}
		resp, err := next(ctx, req)
		if !logServerFault(ctx, logger, info.FullMethod, resourceOf(req), err) && debug {
			logger.DebugContext(ctx, "rpc", "method", info.FullMethod, "resource", resourceOf(req), "code", status.Code(err).String(), "duration", time.Since(start))
		}
		return resp, err
	}
}

// logServerFault logs err at error level if the call failed on the
// server's side, and reports whether it did.
func logServerFault(ctx context.Context, logger *slog.Logger, method, resource string, err error) bool {
	switch code := status.Code(err); code {
	case codes.Internal, codes.Unknown, codes.DataLoss:
		logger.ErrorContext(ctx, "rpc failed", "method", method, "resource", resource, "code", code.String(), "err", status.Convert(err).Message())
		return true
	}
	return false
}

// routingFields are the request fields that name the resource of a call
// (what the clients send in x-goog-request-params), in the order tried;
// "workflow" is UpdateWorkflow's, for the Workflows API served beside.
var routingFields = []protoreflect.Name{"parent", "name", "resource", "queue", "cmek_config", "workflow"}

// resourceOf returns the queue, task or other resource req names, so that
// a call's log line says what it was about; a message field stands for
// its name ("queue" of UpdateQueue).
func resourceOf(req any) string {
	m, ok := req.(proto.Message)
	if !ok {
		return ""
	}
	r := m.ProtoReflect()
	for _, n := range routingFields {
		f := r.Descriptor().Fields().ByName(n)
		switch {
		case f == nil || f.IsList() || f.IsMap():
		case f.Kind() == protoreflect.StringKind:
			return r.Get(f).String()
		case f.Kind() == protoreflect.MessageKind:
			if name := f.Message().Fields().ByName("name"); name != nil && name.Kind() == protoreflect.StringKind {
				return r.Get(f).Message().Get(name).String()
			}
		}
	}
	return ""
}

// statusWriter records the status code. Unwrap lets
// http.ResponseController reach the real writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
