package metrics

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// UnaryInterceptor counts API calls in opentasks_api_requests_total by
// method (the RPC's short name, "CreateTask") and canonical code ("ok",
// "not_found"). REST calls are transcoded onto the same gRPC server, so
// it counts them too (internal/server.WithUnaryInterceptor).
func (m *Metrics) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		resp, err := next(ctx, req)
		method := info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]
		m.api.WithLabelValues(method, codeLabel(int32(status.Code(err)))).Inc()
		return resp, err
	}
}
