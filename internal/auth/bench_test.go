package auth_test

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/opentasks/opentasks/internal/auth"
	ct "github.com/opentasks/opentasks/internal/cloudtasks"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store/sqlite"
	"github.com/opentasks/opentasks/internal/testpki"
)

// plainToken sends a bearer token without TLS (gRPC's own token
// credentials refuse to), so that a benchmark can measure IAM alone.
type plainToken string

func (p plainToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(p)}, nil
}
func (plainToken) RequireTransportSecurity() bool { return false }

// benchSetups are the servers the benchmarks compare: no
// authentication on the plain port, a static token and IAM checks (the
// admin's project role, the queue's empty policy) on the plain port, and
// the same under TLS.
var benchSetups = []struct {
	name         string
	guarded, tls bool
}{{"open", false, false}, {"guarded", true, false}, {"guarded-tls", true, true}}

// benchClient serves a fresh store with queue1 and returns the official
// gRPC client to it, sending the admin's token when guarded.
func benchClient(b *testing.B, guarded, useTLS bool) *cloudtasks.Client {
	b.Helper()
	dir := b.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
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
	creds := insecure.NewCredentials()
	if useTLS {
		ca := testpki.New(b)
		cert, key := ca.Issue("bench")
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			done <- server.ServeTLS(ctx, ln, server.New(api, opts...), &tls.Config{Certificates: []tls.Certificate{pair}}, time.Second)
		}()
		creds = credentials.NewTLS(ca.ClientConfig())
	} else {
		go func() { done <- server.Serve(ctx, ln, server.New(api, opts...), time.Second) }()
	}
	b.Cleanup(func() { cancel(); <-done })
	c, err := cloudtasks.NewClient(ctx, option.WithEndpoint(ln.Addr().String()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(creds)),
		option.WithGRPCDialOption(grpc.WithPerRPCCredentials(plainToken(adminToken))))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if _, err := svc.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: location, Queue: &cloudtaskspb.Queue{Name: queue1}}); err != nil {
		b.Fatal(err)
	}
	return c
}

// benchCalls runs call from 16 goroutines per CPU on each setup.
func benchCalls(b *testing.B, call func(context.Context, *cloudtasks.Client) error) {
	for _, s := range benchSetups {
		b.Run(s.name, func(b *testing.B) {
			c := benchClient(b, s.guarded, s.tls)
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := call(context.Background(), c); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkCreateTask: a write (a group commit) per call.
func BenchmarkCreateTask(b *testing.B) {
	benchCalls(b, func(ctx context.Context, c *cloudtasks.Client) error {
		_, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue1, Task: httpTask()})
		return err
	})
}

// BenchmarkGetQueue: a read per call, where the transport and the checks
// weigh most.
func BenchmarkGetQueue(b *testing.B) {
	benchCalls(b, func(ctx context.Context, c *cloudtasks.Client) error {
		_, err := c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queue1})
		return err
	})
}
