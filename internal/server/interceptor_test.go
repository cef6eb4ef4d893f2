package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc"

	"github.com/opentasks/opentasks/internal/server"
)

// An interceptor given with WithUnaryInterceptor sees gRPC and REST calls.
func TestUnaryInterceptorSeesBothTransports(t *testing.T) {
	var calls atomic.Int32
	count := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if info.FullMethod == "/google.cloud.tasks.v2.CloudTasks/GetQueue" {
			calls.Add(1)
		}
		return next(ctx, req)
	}
	_, ts := startFake(t, server.WithUnaryInterceptor(count))
	for transport, c := range dialClients(t, ts.URL) {
		before := calls.Load()
		_, _ = c.GetQueue(t.Context(), &cloudtaskspb.GetQueueRequest{Name: queueName})
		if calls.Load() != before+1 {
			t.Errorf("%s: the interceptor saw %d GetQueue calls, want 1", transport, calls.Load()-before)
		}
	}
}

// The HTTP server's own errors go to New's logger, in its format.
func TestHTTPServerErrorsGoToTheLogger(t *testing.T) {
	var logs strings.Builder
	hs := server.NewHTTPServer(server.New(&fakeAPI{}, server.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil)))))
	hs.ErrorLog.Print("http: something went wrong")
	var entry struct{ Level, Msg string }
	if err := json.Unmarshal([]byte(logs.String()), &entry); err != nil || entry.Level != "ERROR" || entry.Msg != "http: something went wrong" {
		t.Errorf("logged %q (%v)", logs.String(), err)
	}
}
