package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// PanicMessage is the message of the error record logged for every
// recovered panic; tests watch for it to prove no input reaches a panic.
const PanicMessage = "panic recovered"

// recoverUnary turns a panic in the service into INTERNAL for this call
// only. Both gRPC and REST (transcoded) calls pass through it.
func recoverUnary(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if v := recover(); v != nil {
				logPanic(ctx, logger, info.FullMethod, v)
				err = status.Error(codes.Internal, "Internal error encountered.")
			}
		}()
		return next(ctx, req)
	}
}

// recoverHTTP catches panics outside the service (transport, transcoding,
// BufferTask) and answers 500 in Google's error shape if it still can.
func recoverHTTP(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // net/http's way to abort a response; not a bug.
			}
			logPanic(r.Context(), logger, r.Method+" "+r.URL.Path, v)
			writeError(w, status.New(codes.Internal, "Internal error encountered."))
		}()
		next.ServeHTTP(w, r)
	})
}

func logPanic(ctx context.Context, logger *slog.Logger, where string, v any) {
	logger.ErrorContext(ctx, PanicMessage, "where", where, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
}
