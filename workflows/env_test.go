package workflows

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

const envFlow = `
- done:
    return:
      location: ${sys.get_env("GOOGLE_CLOUD_LOCATION")}
      workflow: ${sys.get_env("GOOGLE_CLOUD_WORKFLOW_ID")}
      revision: ${sys.get_env("GOOGLE_CLOUD_WORKFLOW_REVISION_ID")}
      execution: ${sys.get_env("GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID")}
      project: ${sys.get_env("GOOGLE_CLOUD_PROJECT_ID")}
      user: ${sys.get_env("GREETING")}
`

// TestBuiltinEnvDefaults: every execution has the four built-in variables
// of the environment-variables reference page, even when the caller names
// none of them, and each run gets its own execution ID.
func TestBuiltinEnvDefaults(t *testing.T) {
	wf, err := Load([]byte(envFlow))
	if err != nil {
		t.Fatal(err)
	}
	run := func() map[string]any {
		out, err := wf.Run(context.Background(), nil, Config{Env: map[string]string{"GREETING": "hi"}})
		if err != nil {
			t.Fatal(err)
		}
		return out.(map[string]any)
	}
	a, b := run(), run()
	if a["location"] != DefaultLocation || a["workflow"] != "workflow" || a["user"] != "hi" || a["project"] != nil {
		t.Errorf("defaults = %v", a)
	}
	if rev, _ := a["revision"].(string); !regexp.MustCompile(`^\d{6}-[0-9a-f]{3}$`).MatchString(rev) || rev != b["revision"] {
		t.Errorf("revision = %v then %v, want one 000001-abc shaped ID", a["revision"], b["revision"])
	}
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if ex, _ := a["execution"].(string); !uuidRE.MatchString(ex) || a["execution"] == b["execution"] {
		t.Errorf("execution IDs = %v, %v; want two different UUIDs", a["execution"], b["execution"])
	}
	other, err := Load([]byte(envFlow + "\n# changed\n"))
	if err != nil {
		t.Fatal(err)
	}
	if other.RevisionID() == wf.RevisionID() {
		t.Errorf("a changed source kept revision %s", wf.RevisionID())
	}
}

// TestBuiltinEnvIdentity: the embedding service names the execution, and
// its names win over a user variable of the same name.
func TestBuiltinEnvIdentity(t *testing.T) {
	wf, err := Load([]byte(envFlow))
	if err != nil {
		t.Fatal(err)
	}
	out, err := wf.Run(context.Background(), nil, Config{
		Env: map[string]string{"GREETING": "hello", "GOOGLE_CLOUD_LOCATION": "spoofed"},
		Identity: Identity{ProjectID: "p1", Location: "europe-west1", WorkflowID: "wf1",
			RevisionID: "000007-a4d", ExecutionID: "e-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"execution":"e-1","location":"europe-west1","project":"p1","revision":"000007-a4d","user":"hello","workflow":"wf1"}`
	if got := canon(t, out); got != want {
		t.Errorf("env = %s, want %s", got, want)
	}
}

// TestBuiltinEnvFromEnv: a caller may give the built-in variables in Env
// instead of Identity; they are kept, and name the execution too (its
// callback URLs).
func TestBuiltinEnvFromEnv(t *testing.T) {
	wf, err := Load([]byte(`
- cb:
    call: events.create_callback_endpoint
    result: cb
- done:
    return: ${[sys.get_env("GOOGLE_CLOUD_WORKFLOW_ID"), sys.get_env("GOOGLE_CLOUD_LOCATION"), sys.get_env("GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID"), cb.url]}
`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := wf.Run(context.Background(), nil, Config{
		Callbacks: NewMemoryCallbacks("http://h"),
		Env: map[string]string{"GOOGLE_CLOUD_PROJECT_ID": "p", "GOOGLE_CLOUD_LOCATION": "asia-east1",
			"GOOGLE_CLOUD_WORKFLOW_ID": "w9", "GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID": "x1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := out.([]any)
	if got[0] != "w9" || got[1] != "asia-east1" || got[2] != "x1" ||
		!strings.HasPrefix(got[3].(string), "http://h/callbacks/projects/p/locations/asia-east1/workflows/w9/executions/x1/callbacks/") {
		t.Errorf("got %v", got)
	}
}
