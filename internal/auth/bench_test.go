package auth_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/opentasks/opentasks/internal/auth"
	ct "github.com/opentasks/opentasks/internal/cloudtasks"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store/sqlite"
)

// plainToken sends a bearer token without TLS (gRPC's own token
// credentials refuse to), so that the benchmark measures IAM, not TLS.
type plainToken string

func (p plainToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(p)}, nil
}
func (plainToken) RequireTransportSecurity() bool { return false }

// BenchmarkCreateTask compares CreateTask over gRPC on the plain port
// without authentication and with a static token and IAM checks (the
// enqueuer's role on the project, an empty queue policy read per call).
func BenchmarkCreateTask(b *testing.B) {
	for _, guarded := range []bool{false, true} {
		name := map[bool]string{false: "open", true: "guarded"}[guarded]
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			st, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			svc := ct.New(st, ct.Config{})
			var api server.API = svc
			var opts []server.Option
			if guarded {
				write(b, filepath.Join(dir, "tokens"), tokensFile)
				tokens, err := auth.NewStaticTokens(filepath.Join(dir, "tokens"))
				if err != nil {
					b.Fatal(err)
				}
				policy, err := auth.ParsePolicy([]byte(projectPolicy))
				if err != nil {
					b.Fatal(err)
				}
				authn := auth.NewAuthenticator(tokens)
				api = auth.NewGuard(svc, auth.NewAuthorizer(func() *iampb.Policy { return policy }, svc))
				opts = append(opts, server.WithAuthentication(authn.UnaryInterceptor, authn.StreamInterceptor, authn.Middleware))
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- server.Serve(ctx, ln, server.New(api, opts...), time.Second) }()
			defer func() { cancel(); <-done }()

			c, err := cloudtasks.NewClient(ctx, option.WithEndpoint(ln.Addr().String()), option.WithoutAuthentication(),
				option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
				option.WithGRPCDialOption(grpc.WithPerRPCCredentials(plainToken(enqueuerToken))))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if _, err := svc.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: location, Queue: &cloudtaskspb.Queue{Name: queue1}}); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue1, Task: httpTask()}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
