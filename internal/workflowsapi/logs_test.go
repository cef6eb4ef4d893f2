package workflowsapi_test

import (
	"testing"

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"

	"github.com/opentasks/opentasks/internal/workflowsapi"
)

// TestExecutionLog: an execution's sys.log lines and its calls (begun,
// succeeded, raised) are kept in order for the console.
func TestExecutionLog(t *testing.T) {
	st := openSQLite(t, t.TempDir())
	defer st.Close()
	svc := workflowsapi.New(st, st, workflowsapi.Config{SoleOwner: true})
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	const src = `main:
  steps:
    - say:
        call: sys.log
        args: {text: "hello", severity: "INFO"}
    - bad:
        call: json.decode
        args: {data: "{"}
`
	if _, err := svc.CreateWorkflow(t.Context(), &workflowspb.CreateWorkflowRequest{Parent: loc, WorkflowId: "w",
		Workflow: &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: src}}}); err != nil {
		t.Fatal(err)
	}
	e, err := svc.CreateExecution(t.Context(), &executionspb.CreateExecutionRequest{Parent: loc + "/workflows/w"})
	if err != nil {
		t.Fatal(err)
	}
	<-svc.Finished(e.GetName())
	log := svc.ExecutionLog(e.GetName())
	var got []string
	for _, l := range log.Entries {
		got = append(got, l.Kind+" "+l.Step+" "+l.State+" "+l.Severity+" "+l.Text)
	}
	want := []string{
		"call say BEGUN  ",
		`sys.log   INFO "hello"`,
		"call say SUCCEEDED  ",
		"call bad BEGUN  ",
		"call bad EXCEPTION_RAISED  ",
	}
	if len(got) != len(want) {
		t.Fatalf("log %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("log %q, want %q", got, want)
		}
	}
	if l := log.Entries[4]; l.Line != 6 || l.Callee != "json.decode" || l.Error == "" {
		t.Errorf("raised call %+v, want line 6, json.decode and its error", l)
	}
	if l := log.Entries[0]; l.Args != `{"severity":"INFO","text":"hello"}` {
		t.Errorf("begun call args %s", l.Args)
	}
}
