package auth_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/iam/apiv1/iampb"
	"github.com/googleapis/gax-go/v2/apierror"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	"github.com/opentasks/opentasks/internal/auth"
	ct "github.com/opentasks/opentasks/internal/cloudtasks"
	"github.com/opentasks/opentasks/internal/reload"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store/sqlite"
	"github.com/opentasks/opentasks/internal/testpki"
)

// Principals of the test policy and their tokens.
const (
	adminToken    = "admin-token"
	viewerToken   = "viewer-token"
	enqueuerToken = "enqueuer-token"
	carolToken    = "carol-token"

	tokensFile = `# test tokens
admin-token    user:admin@example.com
viewer-token   user:viewer@example.com
enqueuer-token serviceAccount:enq@p.iam.gserviceaccount.com

carol-token    user:carol@example.com
wfviewer-token user:wfviewer@example.com
invoker-token  serviceAccount:invoker@p.iam.gserviceaccount.com
wfadmin-token  user:wfadmin@example.com
`
	projectPolicy = `{"bindings": [
  {"role": "roles/cloudtasks.admin", "members": ["user:admin@example.com"]},
  {"role": "roles/cloudtasks.viewer", "members": ["user:viewer@example.com"]},
  {"role": "roles/cloudtasks.enqueuer", "members": ["serviceAccount:enq@p.iam.gserviceaccount.com"]},
  {"role": "roles/workflows.viewer", "members": ["user:wfviewer@example.com"]},
  {"role": "roles/workflows.invoker", "members": ["serviceAccount:invoker@p.iam.gserviceaccount.com"]},
  {"role": "roles/workflows.admin", "members": ["user:wfadmin@example.com"]}
]}`
)

// env is a running OpenTasks with static tokens, a project policy and
// TLS from a test CA.
type env struct {
	addr       string // host:port
	ca         *testpki.CA
	tokensPath string
	svc        *ct.Service
}

// extra adds token sources (JWT) to the static tokens.
func start(t *testing.T, extra ...auth.TokenSource) *env {
	t.Helper()
	return startWith(t, nil, extra...)
}

// startWith is start with more services on the port: opts returns their
// options, given the server's Authorizer.
func startWith(t *testing.T, opts func(*sqlite.Store, *auth.Authorizer) []server.Option, extra ...auth.TokenSource) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := ct.New(st, ct.Config{})

	e := &env{ca: testpki.New(t), tokensPath: filepath.Join(dir, "tokens"), svc: svc}
	write(t, e.tokensPath, tokensFile)
	policyPath := filepath.Join(dir, "policy.json")
	write(t, policyPath, projectPolicy)
	tokens, err := auth.NewStaticTokens(e.tokensPath, reload.WithInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	policy, err := reload.New(func(c [][]byte) (*iampb.Policy, error) { return auth.ParsePolicy(c[0]) }, []string{policyPath})
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.NewAuthenticator(append([]auth.TokenSource{tokens}, extra...)...)
	authz := auth.NewAuthorizer(policy.Get, svc)
	o := []server.Option{server.WithAuthentication(authn.UnaryInterceptor, authn.StreamInterceptor, authn.Middleware)}
	if opts != nil {
		o = append(o, opts(st, authz)...)
	}
	h := server.New(auth.NewGuard(svc, authz), o...)

	certFile, keyFile := e.ca.WriteFiles(dir, "server")
	kp, err := reload.NewKeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.ServeTLS(ctx, ln, h, &tls.Config{GetCertificate: kp.GetCertificate}, 10*time.Second)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	return e
}

func write(t testing.TB, path, contents string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
		t.Fatal(err)
	}
}

// clients returns the official client over gRPC and REST, both over TLS
// trusting only the test CA, sending token ("" sends no credentials).
func (e *env) clients(t *testing.T, token string) map[string]*cloudtasks.Client {
	t.Helper()
	ctx := context.Background()
	grpcOpts, restOpts := e.options(t, token)
	g, err := cloudtasks.NewClient(ctx, grpcOpts...)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cloudtasks.NewRESTClient(ctx, restOpts...)
	if err != nil {
		g.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close(); r.Close() })
	return map[string]*cloudtasks.Client{"grpc": g, "rest": r}
}

// options are the client options of any official client of this server
// over gRPC and over REST, as clients describes them.
func (e *env) options(t *testing.T, token string) (grpcOpts, restOpts []option.ClientOption) {
	creds := option.WithoutAuthentication()
	var ts oauth2.TokenSource
	if token != "" {
		ts = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})
		creds = option.WithTokenSource(ts)
	}
	// WithHTTPClient replaces the client's own credentials, so the token
	// goes in the same oauth2 transport WithTokenSource would build.
	tr := &http.Transport{TLSClientConfig: e.ca.ClientConfig(), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	var rt http.RoundTripper = tr
	if ts != nil {
		rt = &oauth2.Transport{Source: ts, Base: rt}
	}
	return []option.ClientOption{option.WithEndpoint(e.addr), creds,
			option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(e.ca.ClientConfig())))},
		[]option.ClientOption{option.WithEndpoint("https://" + e.addr), option.WithHTTPClient(&http.Client{Transport: rt})}
}

// wantError fails t unless err carries code and message (when not
// empty), and for REST the matching HTTP status.
func wantError(t *testing.T, transport string, err error, code codes.Code, message string) {
	t.Helper()
	var ae *apierror.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an APIError", err)
	}
	if ae.GRPCStatus().Code() != code || message != "" && ae.GRPCStatus().Message() != message {
		t.Fatalf("status = %v %q; want %v %q", ae.GRPCStatus().Code(), ae.GRPCStatus().Message(), code, message)
	}
	httpCodes := map[codes.Code]int{codes.Unauthenticated: 401, codes.PermissionDenied: 403, codes.Aborted: 409, codes.InvalidArgument: 400, codes.NotFound: 404, codes.Unavailable: 503}
	if transport == "rest" && ae.HTTPCode() != httpCodes[code] {
		t.Fatalf("HTTP status = %d; want %d", ae.HTTPCode(), httpCodes[code])
	}
}
