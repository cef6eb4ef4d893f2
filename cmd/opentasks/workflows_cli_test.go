package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestCLIWorkflows: deploy, run NAME (through the server, waiting),
// executions list|describe|cancel, and run FILE still running locally.
func TestCLIWorkflows(t *testing.T) {
	dir := t.TempDir()
	ep := startServe(t, "--store", "sqlite:"+filepath.Join(dir, "db"))
	src := filepath.Join(dir, "greet.yaml")
	if err := os.WriteFile(src, []byte("main:\n  params: [args]\n  steps:\n    - greet:\n        return: ${\"hi \" + args.name + \" \" + sys.get_env(\"TONE\")}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	out, errOut := cliOK(t, ep, "workflows", "deploy", "greet", "--source", src, "--set-env-vars", "TONE=warmly", "--format", "json")
	w := &workflowspb.Workflow{}
	if err := protojson.Unmarshal([]byte(out), w); err != nil || w.GetName() != "projects/p/locations/us-central1/workflows/greet" || !strings.HasPrefix(w.GetRevisionId(), "000001-") {
		t.Fatalf("deploy printed %q (%v)", out, err)
	}
	if !strings.HasPrefix(errOut, "Waiting for operation [projects/p/locations/us-central1/operations/") {
		t.Errorf("deploy stderr %q", errOut)
	}
	// Deploying again updates: a new revision.
	out, _ = cliOK(t, ep, "workflows", "deploy", "greet", "--source", src, "--set-env-vars", "TONE=kindly", "--format", "json")
	if err := protojson.Unmarshal([]byte(out), w); err != nil || !strings.HasPrefix(w.GetRevisionId(), "000002-") {
		t.Fatalf("second deploy printed %q (%v)", out, err)
	}

	out, errOut = cliOK(t, ep, "workflows", "run", "greet", "--data", `{"name":"ann"}`, "--format", "json")
	ex := &executionspb.Execution{}
	if err := protojson.Unmarshal([]byte(out), ex); err != nil || ex.GetState() != executionspb.Execution_SUCCEEDED || ex.GetResult() != `"hi ann kindly"` {
		t.Fatalf("run printed %q (%v)", out, err)
	}
	if !strings.HasPrefix(errOut, "Waiting for execution [") || !strings.HasSuffix(errOut, "to complete...done.\n") {
		t.Errorf("run stderr %q", errOut)
	}

	code, out, errOut := cliRun(t, ep, "workflows", "run", "greet", "--data", `{"nom":"bob"}`)
	if code != 1 || !strings.Contains(out, "state: FAILED") || !strings.Contains(out, "KeyError") || !strings.Contains(errOut, "ERROR: (opentasks.workflows.run)") {
		t.Errorf("failed run: exit %d\n%s\n%s", code, out, errOut)
	}

	out, _ = cliOK(t, ep, "workflows", "executions", "list", "greet")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[1], "FAILED") || !strings.Contains(lines[2], "SUCCEEDED") {
		t.Errorf("executions list:\n%s", out)
	}
	id := ex.GetName()[strings.LastIndex(ex.GetName(), "/")+1:]
	out, _ = cliOK(t, ep, "workflows", "executions", "describe", id, "--workflow", "greet")
	if !strings.Contains(out, "result: '\"hi ann kindly\"'") && !strings.Contains(out, `result: "\"hi ann kindly\""`) {
		t.Errorf("describe:\n%s", out)
	}
	code, _, errOut = cliRun(t, ep, "workflows", "executions", "cancel", id, "--workflow", "greet")
	if code != 1 || !strings.Contains(errOut, "FAILED_PRECONDITION") {
		t.Errorf("cancel of a finished execution: exit %d, %q", code, errOut)
	}
	code, _, errOut = cliRun(t, ep, "workflows", "executions", "describe", id)
	if code != 2 || !strings.Contains(errOut, "argument --workflow: Must be specified") {
		t.Errorf("describe without --workflow: exit %d, %q", code, errOut)
	}

	// A file still runs locally, without the server.
	out, _ = cliOK(t, ep, "workflows", "run", src, "--data", `{"name":"local"}`, "--env", "TONE=here")
	if out != "\"hi local here\"\n" {
		t.Errorf("local run printed %q", out)
	}
}
