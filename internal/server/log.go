package server

import (
	"log/slog"
	"net/http"
	"time"
)

// logRequests logs every request at debug level. For gRPC the outcome is
// the grpc-status the gRPC server left in the response headers.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !logger.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start)}
		if gs := w.Header().Get("Grpc-Status"); gs != "" {
			attrs = append(attrs, "grpc_status", gs)
		}
		logger.DebugContext(r.Context(), "request", attrs...)
	})
}

// statusWriter records the status code. The gRPC server needs Flush, and
// Unwrap lets http.ResponseController reach the real writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }
