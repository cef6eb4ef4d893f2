package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	workflowsapi "cloud.google.com/go/workflows/apiv1"
	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"google.golang.org/api/option"
)

// TestPublicURL: --public-url is the issuer of the server's OIDC tokens
// and the base of workflow callback URLs.
func TestPublicURL(t *testing.T) {
	ctx := deadline(t, time.Minute)
	const public = "https://tasks.example:8443"
	base := serveWith(t, &lockedBuffer{}, []string{"OPENTASKS_PUBLIC_URL=" + public + "/"}, "--store", "sqlite:"+filepath.Join(t.TempDir(), "db"))
	code, body := rawCall(t, http.MethodGet, base+"/.well-known/openid-configuration", "", nil)
	var doc struct {
		Issuer  string
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal([]byte(body), &doc); code != http.StatusOK || err != nil || doc.Issuer != public || doc.JWKSURI != public+"/.well-known/jwks.json" {
		t.Fatalf("discovery: %d %s", code, body)
	}

	wc, err := workflowsapi.NewRESTClient(ctx, option.WithEndpoint(base), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	const parent = "projects/p/locations/us-central1"
	op, err := wc.CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: parent, WorkflowId: "cb",
		Workflow: &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: `
main:
  steps:
    - create:
        call: events.create_callback_endpoint
        args: {http_callback_method: POST}
        result: cb
    - done:
        return: ${cb.url}
`}}})
	if err == nil {
		_, err = op.Wait(ctx)
	}
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	code, body = rawCall(t, http.MethodPost, base+"/v1/"+parent+"/workflows/cb/executions", `{}`, map[string]string{"Content-Type": "application/json"})
	var ex struct{ Name, State, Result string }
	if err := json.Unmarshal([]byte(body), &ex); code != http.StatusOK || err != nil {
		t.Fatalf("CreateExecution: %d %s", code, body)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for ex.State == "ACTIVE" || ex.State == "QUEUED" {
		select {
		case <-ctx.Done():
			t.Fatal("the execution did not finish")
		case <-tick.C:
		}
		code, body = rawCall(t, http.MethodGet, base+"/v1/"+ex.Name, "", nil)
		if err := json.Unmarshal([]byte(body), &ex); code != http.StatusOK || err != nil {
			t.Fatalf("GetExecution: %d %s", code, body)
		}
	}
	if ex.State != "SUCCEEDED" || !strings.HasPrefix(ex.Result, `"`+public+"/callbacks/"+parent+"/workflows/cb/executions/") {
		t.Fatalf("execution %s: %s", ex.State, body)
	}
}
