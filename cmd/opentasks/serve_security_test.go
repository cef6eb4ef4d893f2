package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/opentasks/opentasks/internal/testpki"
)

// serveWith runs serve on a free loopback port with args and environ,
// logging to stderr, until the test ends (when it must exit 0), and
// returns the URL it serves on.
func serveWith(t *testing.T, stderr io.Writer, environ []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(deadline(t, time.Minute))
	out, stdout := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), stdout, stderr, environ)
		stdout.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d", code)
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no serving line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	base, _, _ := strings.Cut(strings.TrimPrefix(line, "opentasks: serving on "), " ")
	return base
}

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
	var log lockedBuffer
	url := serveWith(t, &log, []string{"OPENTASKS_STORE=sqlite:" + filepath.Join(dir, "db"), "OPENTASKS_AUTH_TOKENS=" + tokens, "OPENTASKS_IAM_POLICY=" + policy},
		"--tls-cert", certFile, "--tls-key", keyFile)
	addr, ok := strings.CutPrefix(url, "https://")
	if !ok {
		t.Fatalf("serving on %q", url)
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
	// The denial is logged for the operator.
	want := `msg="permission denied" principal=user:ops@example.com permission=cloudtasks.tasks.create resource=` + parent + "/queues/q"
	if !strings.Contains(log.String(), want) {
		t.Errorf("the log lacks %q:\n%s", want, log.String())
	}
	if _, err := anon.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: parent + "/queues/q"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("anonymous GetQueue: %v", err)
	}
	// Health and the OIDC documents targets need stay open, over TLS.
	tr := &http.Transport{TLSClientConfig: ca.ClientConfig()}
	defer tr.CloseIdleConnections()
	for _, path := range []string{"/healthz", "/.well-known/openid-configuration", "/.well-known/jwks.json"} {
		resp, err := (&http.Client{Transport: tr}).Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s without credentials: %s", path, resp.Status)
		}
	}
	// The Workflows and Executions APIs on the port need credentials
	// too, their hand-written routes (CreateExecution's, callbacks')
	// included.
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/projects/p/locations/us-central1/workflows"},
		{"POST", "/v1/projects/p/locations/us-central1/workflows/w/executions"},
		{"POST", "/callbacks/x"},
		{"POST", "/v1/projects/p/locations/us-central1/workflows/w/executions/e/callbacks/c"},
	} {
		req, _ := http.NewRequest(c.method, url+c.path, strings.NewReader("{}"))
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without credentials: %s", c.method, c.path, resp.Status)
		}
	}
	// WithCredentials works as WithTokenSource does.
	withCreds, err := cloudtasks.NewClient(ctx, option.WithEndpoint(addr), tlsOpt,
		option.WithCredentials(&google.Credentials{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t0ken"})}))
	if err != nil {
		t.Fatal(err)
	}
	defer withCreds.Close()
	if q, err := withCreds.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: parent + "/queues/q"}); err != nil || q.GetState() != cloudtaskspb.Queue_RUNNING {
		t.Fatalf("GetQueue WithCredentials = %v, %v", q, err)
	}
}

// TestExposureRefused: without an auth flag, an address other hosts can
// reach is refused at start, naming the flags that allow it.
func TestExposureRefused(t *testing.T) {
	var stderr strings.Builder
	// Refused before listening: the test opens no port beyond loopback.
	code := run(deadline(t, time.Minute), []string{"serve", "--addr", "0.0.0.0:0", "--store", "sqlite:" + t.TempDir() + "/db"}, io.Discard, &stderr, nil)
	if code != 2 {
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
		{securityFlags{}, "localhost:1", true},
		{securityFlags{}, ":1", false},
		{securityFlags{}, "0.0.0.0:1", false},
		{securityFlags{}, "[::]:1", false},
		{securityFlags{}, "192.168.1.2:1", false},
		{securityFlags{allowUnauthenticated: true}, "0.0.0.0:1", true},
		{securityFlags{authTokens: "tokens"}, "0.0.0.0:1", true},
	} {
		if err := c.f.checkExposure(c.addr); (err == nil) != c.ok {
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

// pathTarget is a task target that reports the path of each request.
func pathTarget(t *testing.T) (*httptest.Server, <-chan string) {
	hits := make(chan string, 1)
	target := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { hits <- r.URL.Path }))
	t.Cleanup(target.Close)
	return target, hits
}

// TestServeDeniesMetadataTarget: through the official client, a task to
// the metadata address is refused at creation, and one to a loopback
// target is delivered.
func TestServeDeniesMetadataTarget(t *testing.T) {
	ctx, cancel := context.WithCancel(deadline(t, time.Minute))
	defer cancel()
	target, hits := pathTarget(t)

	url := serveWith(t, io.Discard, nil, "--store", "sqlite:"+filepath.Join(t.TempDir(), "db"))
	c := grpcClient(t, strings.TrimPrefix(url, "http://"))

	const parent = "projects/p/locations/us-central1"
	const queue = parent + "/queues/q"
	if _, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: parent, Queue: &cloudtaskspb.Queue{Name: queue}}); err != nil {
		t.Fatal(err)
	}
	task := func(url string) *cloudtaskspb.CreateTaskRequest {
		return &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: &cloudtaskspb.Task{
			MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: url}}}}
	}
	_, err := c.CreateTask(ctx, task("http://169.254.169.254/computeMetadata/v1/"))
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "169.254.169.254 is a link-local or cloud metadata address") {
		t.Fatalf("metadata task: %v", err)
	}
	if _, err := c.CreateTask(ctx, task(target.URL+"/allowed")); err != nil {
		t.Fatalf("loopback task: %v", err)
	}
	select {
	case got := <-hits:
		if got != "/allowed" {
			t.Fatalf("target saw %q", got)
		}
	case <-ctx.Done():
		t.Fatal("the loopback task was not delivered")
	}
}

// lockedBuffer collects a server's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSecretsNotLogged: at debug level, where every request is logged,
// neither callers' tokens nor the credentials tasks carry reach the log.
func TestSecretsNotLogged(t *testing.T) {
	ctx, cancel := context.WithCancel(deadline(t, time.Minute))
	defer cancel()
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("caller-s3cr3t user:ops@example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hits := make(chan string, 1)
	target := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { hits <- r.Header.Get("Authorization") }))
	defer target.Close()
	var log lockedBuffer
	url := serveWith(t, &log, nil, "--log-level", "debug", "--auth-tokens", tokens, "--store", "sqlite:"+filepath.Join(dir, "db"))

	c, err := cloudtasks.NewRESTClient(ctx, option.WithEndpoint(url),
		option.WithHTTPClient(&http.Client{Transport: &oauth2.Transport{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "caller-s3cr3t"})}}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const parent = "projects/p/locations/us-central1"
	if _, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: parent, Queue: &cloudtaskspb.Queue{Name: parent + "/queues/q"}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: parent + "/queues/q", Task: &cloudtaskspb.Task{
		MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
			Url: target.URL, Headers: map[string]string{"Authorization": "Bearer task-s3cr3t"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := <-hits; got != "Bearer task-s3cr3t" {
		t.Fatalf("the target got Authorization %q", got)
	}
	out := log.String()
	if !strings.Contains(out, "level=DEBUG") {
		t.Fatalf("nothing logged at debug level: %s", out)
	}
	for _, secret := range []string{"caller-s3cr3t", "task-s3cr3t"} {
		if strings.Contains(out, secret) {
			t.Errorf("%s reached the log:\n%s", secret, out)
		}
	}
}

// TestServeRecordsDeniedAttempt: a host name that passes CreateTask but
// resolves into --deny-targets (localhost into 127.0.0.0/8, as a
// rebinding name would) is refused at connect time; the task's
// lastAttempt says so and the target sees nothing.
func TestServeRecordsDeniedAttempt(t *testing.T) {
	ctx, cancel := context.WithCancel(deadline(t, time.Minute))
	defer cancel()
	target, hits := pathTarget(t)
	_, port, _ := strings.Cut(strings.TrimPrefix(target.URL, "http://"), ":")

	var log lockedBuffer
	url := serveWith(t, &log, nil, "--store", "sqlite:"+filepath.Join(t.TempDir(), "db"), "--deny-targets", "127.0.0.0/8,::1")
	c := grpcClient(t, strings.TrimPrefix(url, "http://"))
	const parent = "projects/p/locations/us-central1"
	const queue = parent + "/queues/q"
	if _, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: parent, Queue: &cloudtaskspb.Queue{Name: queue}}); err != nil {
		t.Fatal(err)
	}
	task, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: &cloudtaskspb.Task{
		MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: "http://localhost:" + port + "/secret"}}}})
	if err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	// The attempt's outcome is only visible by reading the task.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := c.GetTask(ctx, &cloudtaskspb.GetTaskRequest{Name: task.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		if st := got.GetLastAttempt().GetResponseStatus(); st != nil {
			if st.GetCode() != int32(codes.PermissionDenied) || !strings.Contains(st.GetMessage(), "in --deny-targets") {
				t.Fatalf("lastAttempt status %v", st)
			}
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("no attempt recorded")
		}
	}
	select {
	case p := <-hits:
		t.Fatalf("the denied target was reached: %s", p)
	default:
	}
	if !strings.Contains(log.String(), "task target denied") {
		t.Errorf("no log line for the denied attempt:\n%s", log.String())
	}
}

// TestCLIWithToken: the CLI sends $OPENTASKS_TOKEN to a server that
// requires authentication.
func TestCLIWithToken(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("cli-t0ken user:ops@example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := serveWith(t, io.Discard, nil, "--auth-tokens", tokens, "--store", "sqlite:"+filepath.Join(dir, "db"))
	ctx := deadline(t, time.Minute)
	args := []string{"queues", "create", "q", "--endpoint", url, "--project", "p"}
	var stderr strings.Builder
	if code := run(ctx, args, io.Discard, &stderr, nil); code == 0 || !strings.Contains(stderr.String(), "missing required authentication credential") {
		t.Fatalf("without a token: exit %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run(ctx, args, io.Discard, &stderr, []string{"OPENTASKS_TOKEN=cli-t0ken"}); code != 0 {
		t.Fatalf("with a token: exit %d, stderr %q", code, stderr.String())
	}
	// Executions go over gRPC (Google's Go client has no REST mode), in
	// plain text here: the token goes with them too.
	source := writeFile(t, "hello.yaml", "main:\n  steps:\n    - done:\n        return: hi\n")
	for _, args := range [][]string{{"workflows", "deploy", "hello", "--source", source}, {"workflows", "run", "hello"}} {
		var stdout strings.Builder
		stderr.Reset()
		args = append(args, "--endpoint", url, "--project", "p")
		if code := run(ctx, args, &stdout, &stderr, []string{"OPENTASKS_TOKEN=cli-t0ken"}); code != 0 {
			t.Fatalf("%v with a token: exit %d, stderr %q", args, code, stderr.String())
		}
		if args[1] == "run" && !strings.Contains(stdout.String(), `state: SUCCEEDED`) {
			t.Errorf("workflows run printed %q", stdout.String())
		}
	}
}

// TestHealthcheckTLS: in a container with TLS on, healthcheck finds the
// server from OPENTASKS_ADDR and asks over TLS for the certificate of
// OPENTASKS_TLS_CERT, and no other.
func TestHealthcheckTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.New(t)
	certFile, keyFile := ca.WriteFiles(dir, "serve")
	url := serveWith(t, io.Discard, nil, "--tls-cert", certFile, "--tls-key", keyFile, "--store", "sqlite:"+filepath.Join(dir, "db"))
	addr := strings.TrimPrefix(url, "https://")
	ctx := deadline(t, time.Minute)
	var stdout, stderr strings.Builder
	if code := run(ctx, []string{"healthcheck"}, &stdout, &stderr, []string{"OPENTASKS_ADDR=" + addr, "OPENTASKS_TLS_CERT=" + certFile}); code != 0 || stdout.String() != "ok\n" {
		t.Fatalf("healthcheck: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	otherDir := t.TempDir()
	other, _ := ca.WriteFiles(otherDir, "other")
	stderr.Reset()
	if code := run(ctx, []string{"healthcheck"}, io.Discard, &stderr, []string{"OPENTASKS_ADDR=" + addr, "OPENTASKS_TLS_CERT=" + other}); code == 0 ||
		!strings.Contains(stderr.String(), "not the one OPENTASKS_TLS_CERT names") {
		t.Fatalf("healthcheck with another certificate: exit %d, stderr %q", code, stderr.String())
	}
}
