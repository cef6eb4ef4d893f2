package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// consoleUser is a browser of the console: cookies kept, redirects not
// followed.
type consoleUser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newConsoleUser(t *testing.T, base string) *consoleUser {
	jar, _ := cookiejar.New(nil)
	return &consoleUser{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get returns the page's status, body and the CSRF token of its forms.
func (u *consoleUser) get(path string) (int, string, string) {
	u.t.Helper()
	resp, err := u.c.Get(u.base + path)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tok string
	if m := csrfField.FindSubmatch(b); m != nil {
		tok = string(m[1])
	}
	return resp.StatusCode, string(b), tok
}

func (u *consoleUser) post(path string, form url.Values) (int, string) {
	u.t.Helper()
	resp, err := u.c.PostForm(u.base+path, form)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (u *consoleUser) signIn(token string) string {
	u.t.Helper()
	_, _, csrf := u.get("/console/login")
	if code, page := u.post("/console/login", url.Values{"csrf": {csrf}, "token": {token}, "next": {"/console/"}}); code != http.StatusSeeOther {
		u.t.Fatalf("signing in: %d %s", code, page)
	}
	return csrf
}

// TestServeConsoleActsAsTheSignedInUser: with --auth-tokens and an IAM
// policy, the console asks for a token and acts with that principal's
// roles: an admin creates and pauses, a viewer sees but may not pause.
func TestServeConsoleActsAsTheSignedInUser(t *testing.T) {
	dir := t.TempDir()
	tokens, policy := filepath.Join(dir, "tokens"), filepath.Join(dir, "policy.json")
	for path, contents := range map[string]string{
		tokens: "ops-token user:ops@example.com\nview-token user:viewer@example.com\n",
		policy: `{"bindings": [{"role": "roles/cloudtasks.admin", "members": ["user:ops@example.com"]},
			{"role": "roles/cloudtasks.viewer", "members": ["user:viewer@example.com"]}]}`,
	} {
		if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := serveWith(t, io.Discard, []string{"OPENTASKS_STORE=sqlite:" + filepath.Join(dir, "db"), "OPENTASKS_AUTH_TOKENS=" + tokens, "OPENTASKS_IAM_POLICY=" + policy})

	anon := newConsoleUser(t, base)
	if code, _, _ := anon.get("/console/"); code != http.StatusSeeOther {
		t.Fatalf("anonymous console: %d, want a redirect to sign in", code)
	}
	if code, _ := anon.post("/console/login", url.Values{"token": {"ops-token"}}); code != http.StatusForbidden {
		t.Errorf("sign-in without the form's token: %d", code)
	}

	const queue = "projects/p/locations/us-central1/queues/q"
	ops := newConsoleUser(t, base)
	csrf := ops.signIn("ops-token")
	if code, page := ops.post("/console/queues", url.Values{"csrf": {csrf}, "project": {"p"}, "location": {"us-central1"}, "id": {"q"}}); code != http.StatusSeeOther {
		t.Fatalf("admin creating a queue: %d %s", code, page)
	}

	viewer := newConsoleUser(t, base)
	csrf = viewer.signIn("view-token")
	code, page, _ := viewer.get("/console/")
	if code != http.StatusOK || !strings.Contains(page, ">q</a>") {
		t.Fatalf("viewer's queues page: %d", code)
	}
	code, page = viewer.post("/console/"+queue+"/pause", url.Values{"csrf": {csrf}, "back": {"/console/"}})
	if code != http.StatusForbidden || !strings.Contains(page, "cloudtasks.queues.pause") {
		t.Errorf("viewer pausing: %d, want 403 naming the permission:\n%s", code, page)
	}
	if _, page, _ := ops.get("/console/" + queue); !strings.Contains(page, `state-running`) {
		t.Error("the viewer paused the queue")
	}
	if code, _ = ops.post("/console/"+queue+"/pause", url.Values{"csrf": {csrf}, "back": {"/console/"}}); code != http.StatusForbidden {
		t.Errorf("admin posting with another browser's CSRF token: %d", code)
	}
}

// TestServeConsoleWorkflowsActAsTheSignedInUser: the console's Workflows
// pages go through the Workflows IAM guard: a workflows viewer sees a
// workflow but may not run it, an invoker may.
func TestServeConsoleWorkflowsActAsTheSignedInUser(t *testing.T) {
	dir := t.TempDir()
	tokens, policy, wfDir := filepath.Join(dir, "tokens"), filepath.Join(dir, "policy.json"), filepath.Join(dir, "wf")
	if err := os.Mkdir(wfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, contents := range map[string]string{
		tokens: "view-token user:viewer@example.com\nrun-token user:runner@example.com\n",
		policy: `{"bindings": [{"role": "roles/workflows.viewer", "members": ["user:viewer@example.com"]},
			{"role": "roles/workflows.invoker", "members": ["user:runner@example.com"]}]}`,
		filepath.Join(wfDir, "hello.yaml"): "main:\n  steps:\n    - done:\n        return: 1\n",
	} {
		if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := serveWith(t, io.Discard, []string{"OPENTASKS_STORE=sqlite:" + filepath.Join(dir, "db"), "OPENTASKS_AUTH_TOKENS=" + tokens,
		"OPENTASKS_IAM_POLICY=" + policy, "OPENTASKS_WORKFLOWS_DIR=" + wfDir, "OPENTASKS_WORKFLOWS_PARENT=projects/p/locations/l"})
	const workflow = "/console/projects/p/locations/l/workflows/hello"

	viewer := newConsoleUser(t, base)
	csrf := viewer.signIn("view-token")
	if code, page, _ := viewer.get(workflow); code != http.StatusOK {
		t.Fatalf("viewer's workflow page: %d\n%s", code, page)
	}
	code, page := viewer.post(workflow+"/execute", url.Values{"csrf": {csrf}})
	if code != http.StatusForbidden || !strings.Contains(page, "workflows.executions.create") {
		t.Errorf("viewer executing: %d, want 403 naming the permission:\n%s", code, page)
	}

	runner := newConsoleUser(t, base)
	csrf = runner.signIn("run-token")
	if code, page := runner.post(workflow+"/execute", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther {
		t.Errorf("invoker executing: %d, want a redirect to the execution:\n%s", code, page)
	}
}
