package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/opentasks/opentasks/internal/testpki"
)

// TestServeSecured runs serve with TLS, tokens and a project policy from
// the environment and calls it with the official client over gRPC.
func TestServeSecured(t *testing.T) {
	ctx, cancel := context.WithCancel(deadline(t, time.Minute))
	defer cancel()
	dir := t.TempDir()
	ca := testpki.New(t)
	certFile, keyFile := ca.WriteFiles(dir, "serve")
	tokens, policy := filepath.Join(dir, "tokens"), filepath.Join(dir, "policy.json")
	for path, contents := range map[string]string{
		tokens: "t0ken user:ops@example.com\n",
		policy: `{"bindings": [{"role": "roles/cloudtasks.queueAdmin", "members": ["user:ops@example.com"]}]}`,
	} {
		if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, stdout := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile}, stdout, io.Discard, []string{
			"OPENTASKS_STORE=sqlite:" + filepath.Join(dir, "db"), "OPENTASKS_AUTH_TOKENS=" + tokens, "OPENTASKS_IAM_POLICY=" + policy,
		})
		stdout.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no serving line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	addr, ok := strings.CutPrefix(strings.Fields(line)[3], "https://")
	if !ok {
		t.Fatalf("serving line %q", line)
	}
	tlsOpt := option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(ca.ClientConfig())))
	ops, err := cloudtasks.NewClient(ctx, option.WithEndpoint(addr), tlsOpt,
		option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t0ken"})))
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	anon, err := cloudtasks.NewClient(ctx, option.WithEndpoint(addr), tlsOpt, option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()

	const parent = "projects/p/locations/us-central1"
	if _, err := ops.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: parent, Queue: &cloudtaskspb.Queue{Name: parent + "/queues/q"}}); err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	_, err = ops.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: parent + "/queues/q", Task: &cloudtaskspb.Task{}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("queueAdmin CreateTask: %v", err)
	}
	if _, err := anon.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: parent + "/queues/q"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("anonymous GetQueue: %v", err)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d", code)
	}
}

// TestExposureRefused: without an auth flag, an address other hosts can
// reach is refused at start, naming the flags that allow it.
func TestExposureRefused(t *testing.T) {
	var stderr strings.Builder
	code := run(deadline(t, time.Minute), []string{"serve", "--addr", "0.0.0.0:0", "--store", "sqlite:" + t.TempDir() + "/db"}, io.Discard, &stderr, nil)
	if code != 1 {
		t.Fatalf("exit %d; stderr %q", code, stderr.String())
	}
	for _, flag := range []string{"--allow-unauthenticated", "--auth-tokens", "--auth-jwks"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("the refusal does not name %s: %q", flag, stderr.String())
		}
	}

	for _, c := range []struct {
		f    securityFlags
		addr string
		ok   bool
	}{
		{securityFlags{}, "127.0.0.1:1", true},
		{securityFlags{}, "[::1]:1", true},
		{securityFlags{}, "0.0.0.0:1", false},
		{securityFlags{}, "[::]:1", false},
		{securityFlags{}, "192.168.1.2:1", false},
		{securityFlags{allowUnauthenticated: true}, "0.0.0.0:1", true},
		{securityFlags{authTokens: "tokens"}, "0.0.0.0:1", true},
	} {
		addr, err := net.ResolveTCPAddr("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.f.checkExposure(addr); (err == nil) != c.ok {
			t.Errorf("%+v on %s: %v", c.f, c.addr, err)
		}
	}
}

// TestSecurityFlagsTogether: flags that mean nothing alone are refused
// (a policy without a way to authenticate would authorize nobody).
func TestSecurityFlagsTogether(t *testing.T) {
	for _, c := range []struct{ args, want []string }{
		{[]string{"--iam-policy", "p.json"}, []string{"--auth-tokens"}},
		{[]string{"--auth-jwks", "http://127.0.0.1:1/jwks"}, []string{"--auth-issuer", "--auth-audience"}},
		{[]string{"--auth-issuer", "https://accounts.google.com"}, []string{"--auth-jwks"}},
		{[]string{"--tls-cert", "c.pem"}, []string{"--tls-key"}},
	} {
		_, err := parseServeFlags(c.args, io.Discard, nil)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: err = %v; want it to name %s", c.args, err, w)
			}
		}
	}
}
