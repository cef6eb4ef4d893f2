package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"cloud.google.com/go/iam/apiv1/iampb"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/opentasks/opentasks/internal/auth"
)

const (
	location = "projects/p/locations/l"
	queue1   = location + "/queues/q1"
	queue2   = location + "/queues/q2"

	msgMissing = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
	msgInvalid = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)

func denied(perm, resource string) string {
	return `The principal (user or service account) lacks IAM permission "` + perm + `" for the resource "` + resource + `" (or the resource may not exist).`
}

func httpTask() *cloudtaskspb.Task {
	return &cloudtaskspb.Task{MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: "http://127.0.0.1:1/"}}}
}

// createQueues makes q1 and q2 as the admin.
func createQueues(t *testing.T, admin *cloudtasks.Client) {
	t.Helper()
	for _, q := range []string{queue1, queue2} {
		if _, err := admin.CreateQueue(context.Background(), &cloudtaskspb.CreateQueueRequest{Parent: location, Queue: &cloudtaskspb.Queue{Name: q}}); err != nil {
			t.Fatalf("CreateQueue %s: %v", q, err)
		}
	}
}

func TestCredentials(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	none, wrong := e.clients(t, ""), e.clients(t, "not-a-token")
	for _, transport := range []string{"grpc", "rest"} {
		t.Run(transport, func(t *testing.T) {
			_, err := none[transport].GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queue1})
			wantError(t, transport, err, codes.Unauthenticated, msgMissing)
			_, err = wrong[transport].GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queue1})
			wantError(t, transport, err, codes.Unauthenticated, msgInvalid)
			// Authentication comes before validation: a malformed name
			// tells an anonymous caller nothing.
			_, err = none[transport].GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: "bad"})
			wantError(t, transport, err, codes.Unauthenticated, msgMissing)
		})
	}
}

// TestRESTChallenge: a REST 401 has Google's error body and a Bearer
// challenge; /healthz stays open.
func TestRESTChallenge(t *testing.T) {
	e := start(t)
	tr := &http.Transport{TLSClientConfig: e.ca.ClientConfig()}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	for token, want := range map[string]string{
		"":      `Bearer realm="https://accounts.google.com/"`,
		"wrong": `Bearer realm="https://accounts.google.com/", error="invalid_token"`,
	} {
		req, _ := http.NewRequest("GET", "https://"+e.addr+"/v2/"+queue1, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct {
				Code    int
				Status  string
				Message string
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 401 || body.Error.Code != 401 || body.Error.Status != "UNAUTHENTICATED" {
			t.Errorf("token %q: %d %+v %v", token, resp.StatusCode, body, err)
		}
		if got := resp.Header.Get("WWW-Authenticate"); got != want {
			t.Errorf("token %q: WWW-Authenticate = %q; want %q", token, got, want)
		}
	}
	resp, err := hc.Get("https://" + e.addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok\n" {
		t.Errorf("/healthz = %d %q", resp.StatusCode, b)
	}
}

func TestRoles(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	createQueues(t, e.clients(t, adminToken)["grpc"])
	viewers, enqueuers := e.clients(t, viewerToken), e.clients(t, enqueuerToken)
	for _, transport := range []string{"grpc", "rest"} {
		t.Run(transport, func(t *testing.T) {
			viewer, enqueuer := viewers[transport], enqueuers[transport]

			// A viewer may list queues and tasks, not create tasks.
			it := viewer.ListQueues(ctx, &cloudtaskspb.ListQueuesRequest{Parent: location})
			var names []string
			for q, err := it.Next(); err != iterator.Done; q, err = it.Next() {
				if err != nil {
					t.Fatalf("viewer ListQueues: %v", err)
				}
				names = append(names, q.GetName())
			}
			if !slices.Equal(names, []string{queue1, queue2}) {
				t.Fatalf("viewer ListQueues = %v", names)
			}
			_, err := viewer.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue1, Task: httpTask()})
			wantError(t, transport, err, codes.PermissionDenied, denied("cloudtasks.tasks.create", queue1))
			var ae *apierror.APIError
			if errors.As(err, &ae); ae.Reason() != "IAM_PERMISSION_DENIED" || ae.Domain() != "cloudtasks.googleapis.com" ||
				ae.Metadata()["permission"] != "cloudtasks.tasks.create" || ae.Metadata()["resource"] != queue1 {
				t.Fatalf("ErrorInfo: reason %q domain %q metadata %v", ae.Reason(), ae.Domain(), ae.Metadata())
			}

			// An enqueuer may create tasks, not delete queues or list them.
			if _, err := enqueuer.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue1, Task: httpTask()}); err != nil {
				t.Fatalf("enqueuer CreateTask: %v", err)
			}
			err = enqueuer.DeleteQueue(ctx, &cloudtaskspb.DeleteQueueRequest{Name: queue1})
			wantError(t, transport, err, codes.PermissionDenied, denied("cloudtasks.queues.delete", queue1))
			_, err = enqueuer.ListQueues(ctx, &cloudtaskspb.ListQueuesRequest{Parent: location}).Next()
			wantError(t, transport, err, codes.PermissionDenied, denied("cloudtasks.queues.list", location))

			// A denial does not tell a missing queue from a forbidden one.
			err = enqueuer.DeleteQueue(ctx, &cloudtaskspb.DeleteQueueRequest{Name: location + "/queues/missing"})
			wantError(t, transport, err, codes.PermissionDenied, denied("cloudtasks.queues.delete", location+"/queues/missing"))

			// The viewer's role includes full views; the enqueuer's a
			// full view of what it creates, but no listing.
			_, err = enqueuer.ListTasks(ctx, &cloudtaskspb.ListTasksRequest{Parent: queue1, ResponseView: cloudtaskspb.Task_FULL}).Next()
			wantError(t, transport, err, codes.PermissionDenied, denied("cloudtasks.tasks.list", queue1))
			if _, err := viewer.ListTasks(ctx, &cloudtaskspb.ListTasksRequest{Parent: queue1, ResponseView: cloudtaskspb.Task_FULL}).Next(); err != nil {
				t.Fatalf("viewer ListTasks FULL: %v", err)
			}
		})
	}
}

// TestQueueBinding: a binding in a queue's own policy grants on that
// queue only, adding to the project policy; the IAM methods need their
// permissions and check the etag.
func TestQueueBinding(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	admin := e.clients(t, adminToken)["grpc"]
	createQueues(t, admin)
	carols, viewers := e.clients(t, carolToken), e.clients(t, viewerToken)

	p, err := admin.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: queue1})
	if err != nil {
		t.Fatal(err)
	}
	p.Bindings = []*iampb.Binding{{Role: "roles/cloudtasks.enqueuer", Members: []string{"user:carol@example.com"}}}
	set, err := admin.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: queue1, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	for _, transport := range []string{"grpc", "rest"} {
		t.Run(transport, func(t *testing.T) {
			carol, viewer := carols[transport], viewers[transport]
			if _, err := carol.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue1, Task: httpTask()}); err != nil {
				t.Fatalf("carol CreateTask in q1: %v", err)
			}
			_, err := carol.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue2, Task: httpTask()})
			wantError(t, transport, err, codes.PermissionDenied, denied("cloudtasks.tasks.create", queue2))

			// TestIamPermissions answers for the caller, needing nothing.
			ask := []string{"cloudtasks.tasks.create", "cloudtasks.tasks.list", "cloudtasks.queues.get"}
			for _, c := range []struct {
				who    *cloudtasks.Client
				queue  string
				expect []string
			}{
				{carol, queue1, []string{"cloudtasks.tasks.create"}},
				{carol, queue2, nil},
				{viewer, queue1, []string{"cloudtasks.tasks.list", "cloudtasks.queues.get"}},
				{viewer, location + "/queues/missing", nil},
			} {
				resp, err := c.who.TestIamPermissions(ctx, &iampb.TestIamPermissionsRequest{Resource: c.queue, Permissions: ask})
				if err != nil || !slices.Equal(resp.GetPermissions(), c.expect) {
					t.Errorf("TestIamPermissions on %s = %v, %v; want %v", c.queue, resp.GetPermissions(), err, c.expect)
				}
			}
			_, err = viewer.TestIamPermissions(ctx, &iampb.TestIamPermissionsRequest{Resource: queue1, Permissions: []string{"cloudtasks.queues.create"}})
			wantError(t, transport, err, codes.InvalidArgument, "Permission cloudtasks.queues.create is not valid for this resource.")

			// Get/SetIamPolicy need their permissions.
			_, err = viewer.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: queue1})
			wantError(t, transport, err, codes.PermissionDenied, denied("cloudtasks.queues.getIamPolicy", queue1))
			_, err = carol.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: queue1, Policy: p})
			wantError(t, transport, err, codes.PermissionDenied, denied("cloudtasks.queues.setIamPolicy", queue1))
		})
	}

	// The etag read before the last write is stale.
	_, err = admin.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: queue1, Policy: p})
	wantError(t, "grpc", err, codes.Aborted, "")
	// A policy OpenTasks cannot enforce is refused.
	for _, b := range []*iampb.Binding{
		{Role: "roles/cloudtasks.nosuch", Members: []string{"user:carol@example.com"}},
		{Role: "roles/cloudtasks.viewer", Members: []string{"carol@example.com"}},
		{Role: "roles/cloudtasks.viewer"},
	} {
		_, err = admin.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: queue1, Policy: &iampb.Policy{Etag: set.Etag, Bindings: []*iampb.Binding{b}}})
		wantError(t, "grpc", err, codes.InvalidArgument, "")
	}
}

// TestTokensReload: a token added to the file works without a restart,
// and one removed stops working.
func TestTokensReload(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	newbie := e.clients(t, "new-token")["rest"]
	_, err := newbie.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queue1})
	wantError(t, "rest", err, codes.Unauthenticated, msgInvalid)

	updated := strings.Replace(tokensFile, "admin-token ", "new-token ", 1)
	write(t, e.tokensPath, updated)
	// The admin may now read; the queue does not exist.
	_, err = newbie.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queue1})
	wantError(t, "rest", err, codes.NotFound, "")
	_, err = e.clients(t, adminToken)["rest"].GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queue1})
	wantError(t, "rest", err, codes.Unauthenticated, msgInvalid)

	// A broken file keeps the previous tokens.
	write(t, e.tokensPath, "just-one-field\n")
	_, err = newbie.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queue1})
	wantError(t, "rest", err, codes.NotFound, "")
	if err := os.Remove(e.tokensPath); err != nil {
		t.Fatal(err)
	}
	_, err = newbie.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queue1})
	wantError(t, "rest", err, codes.NotFound, "")
}

// TestAPIKey: an API key alone is refused as Google's front end does.
func TestAPIKey(t *testing.T) {
	e := start(t)
	const msg = "API keys are not supported by this API. Expected OAuth2 access token or other authentication credentials that assert a principal. See https://cloud.google.com/docs/authentication"
	g, err := cloudtasks.NewClient(context.Background(), option.WithEndpoint(e.addr), option.WithAPIKey("k3y"),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(e.ca.ClientConfig()))))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	_, err = g.GetQueue(context.Background(), &cloudtaskspb.GetQueueRequest{Name: queue1})
	wantError(t, "grpc", err, codes.Unauthenticated, msg)

	tr := &http.Transport{TLSClientConfig: e.ca.ClientConfig()}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + e.addr + "/v2/" + queue1 + "?key=k3y")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(b), msg) {
		t.Fatalf("REST with ?key= = %d %s", resp.StatusCode, b)
	}
}

// TestActAs: a task whose OIDC token names a service account needs
// iam.serviceAccounts.actAs on it, which the enqueuer role lacks; the
// denial names the account, as Cloud Tasks does.
func TestActAs(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	createQueues(t, e.clients(t, adminToken)["grpc"])
	task := httpTask()
	task.GetHttpRequest().AuthorizationHeader = &cloudtaskspb.HttpRequest_OidcToken{OidcToken: &cloudtaskspb.OidcToken{ServiceAccountEmail: "deployer@p.iam.gserviceaccount.com"}}
	for transport, c := range e.clients(t, enqueuerToken) {
		_, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue1, Task: task})
		wantError(t, transport, err, codes.PermissionDenied, denied("iam.serviceAccounts.actAs", "deployer@p.iam.gserviceaccount.com"))
	}
}

// TestJWKSUnreachable: when the keys cannot be fetched, a JWT gets
// UNAVAILABLE (the caller may retry), not a verdict on the token;
// static tokens still work.
func TestJWKSUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/jwks"
	ln.Close() // nothing listens there now
	j := newJWKS(t)
	e := start(t, auth.NewJWTVerifier(auth.JWTConfig{JWKSURL: url, Issuer: testIssuer, Audience: testAudience}))
	ctx := context.Background()
	for transport, c := range e.clients(t, j.sign(t, "rsa1", validClaims(time.Now(), "viewer@example.com"))) {
		// CreateTask, which clients do not retry on UNAVAILABLE.
		_, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue1, Task: httpTask()})
		wantError(t, transport, err, codes.Unavailable, "")
	}
	for transport, c := range e.clients(t, viewerToken) {
		_, err := c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queue1})
		wantError(t, transport, err, codes.NotFound, "")
	}
}

// TestBufferTask: the REST-only BufferTask is CreateTask's permission.
func TestBufferTask(t *testing.T) {
	e := start(t)
	admin := e.clients(t, adminToken)["grpc"]
	createQueues(t, admin)
	// BufferTask needs the queue to route its tasks.
	_, err := admin.UpdateQueue(context.Background(), &cloudtaskspb.UpdateQueueRequest{Queue: &cloudtaskspb.Queue{Name: queue1,
		HttpTarget: &cloudtaskspb.HttpTarget{UriOverride: &cloudtaskspb.UriOverride{Host: proto.String("127.0.0.1")}}}})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: e.ca.ClientConfig()}
	defer tr.CloseIdleConnections()
	for token, want := range map[string]int{viewerToken: 403, enqueuerToken: 200, "": 401} {
		req, _ := http.NewRequest("POST", "https://"+e.addr+"/v2/"+queue1+"/tasks:buffer", strings.NewReader("payload"))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("token %q: %d %s; want %d", token, resp.StatusCode, b, want)
		}
	}
}
