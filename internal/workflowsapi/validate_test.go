package workflowsapi_test

import (
	"context"
	"strings"
	"testing"

	"cloud.google.com/go/workflows/apiv1/workflowspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/opentasks/opentasks/internal/workflowsapi"
)

// TestValidation: what a deploy refuses, each with INVALID_ARGUMENT.
func TestValidation(t *testing.T) {
	st := openSQLite(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	svc := workflowsapi.New(st, st, workflowsapi.Config{})
	ctx := context.Background()
	const src = "- r:\n    return: 1\n"
	good := func() *workflowspb.Workflow {
		return &workflowspb.Workflow{SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: src}}
	}
	cases := []struct {
		name   string
		parent string
		id     string
		edit   func(w *workflowspb.Workflow)
	}{
		{"parent", "projects/p", "w", nil},
		{"id starts with a digit", loc, "1w", nil},
		{"id ends with a hyphen", loc, "w-", nil},
		{"id too long", loc, "w" + strings.Repeat("x", 64), nil},
		{"no source", loc, "w", func(w *workflowspb.Workflow) { w.SourceCode = nil }},
		{"source too large", loc, "w", func(w *workflowspb.Workflow) {
			w.SourceCode = &workflowspb.Workflow_SourceContents{SourceContents: src + "#" + strings.Repeat("x", 128*1024)}
		}},
		{"YAML syntax", loc, "w", func(w *workflowspb.Workflow) {
			w.SourceCode = &workflowspb.Workflow_SourceContents{SourceContents: "- r:\n  return: [1\n"}
		}},
		{"description", loc, "w", func(w *workflowspb.Workflow) { w.Description = strings.Repeat("é", 1001) }},
		{"label key", loc, "w", func(w *workflowspb.Workflow) { w.Labels = map[string]string{"Env": "x"} }},
		{"label value", loc, "w", func(w *workflowspb.Workflow) { w.Labels = map[string]string{"env": "X"} }},
		{"reserved variable", loc, "w", func(w *workflowspb.Workflow) { w.UserEnvVars = map[string]string{"GOOGLE_X": "1"} }},
		{"reserved variable WORKFLOWS", loc, "w", func(w *workflowspb.Workflow) { w.UserEnvVars = map[string]string{"WORKFLOWS_X": "1"} }},
		{"variable too long", loc, "w", func(w *workflowspb.Workflow) { w.UserEnvVars = map[string]string{"X": strings.Repeat("v", 4097)} }},
		{"call log level", loc, "w", func(w *workflowspb.Workflow) { w.CallLogLevel = 9 }},
	}
	for _, tc := range cases {
		w := good()
		if tc.edit != nil {
			tc.edit(w)
		}
		_, err := svc.CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: tc.parent, WorkflowId: tc.id, Workflow: w})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want INVALID_ARGUMENT", tc.name, err)
		}
	}
	// The boundaries themselves pass.
	w := good()
	w.Description = strings.Repeat("é", 1000)
	w.Labels = map[string]string{"env": "prod", "équipe": "données"}
	w.UserEnvVars = map[string]string{"X": strings.Repeat("v", 4096)}
	op, err := svc.CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: loc, WorkflowId: "w" + strings.Repeat("x", 62) + "9", Workflow: w})
	if err != nil || op.GetError() != nil {
		t.Fatalf("boundaries: %v %v", err, op.GetError())
	}
	// An update is checked too, and a mask may not name output fields.
	_, err = svc.UpdateWorkflow(ctx, &workflowspb.UpdateWorkflowRequest{
		Workflow:   &workflowspb.Workflow{Name: loc + "/workflows/w" + strings.Repeat("x", 62) + "9", SourceCode: &workflowspb.Workflow_SourceContents{SourceContents: "- r:\n    call: nope\n"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"source_contents"}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("update to a bad source: %v", err)
	}
	_, err = svc.UpdateWorkflow(ctx, &workflowspb.UpdateWorkflowRequest{
		Workflow:   &workflowspb.Workflow{Name: loc + "/workflows/w" + strings.Repeat("x", 62) + "9"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"revision_id"}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("mask naming revision_id: %v", err)
	}
	// Map fields by mask: labels keep the revision, variables make one.
	name := loc + "/workflows/w" + strings.Repeat("x", 62) + "9"
	before, err := svc.GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	op, err = svc.UpdateWorkflow(ctx, &workflowspb.UpdateWorkflowRequest{
		Workflow:   &workflowspb.Workflow{Name: name, Labels: map[string]string{"team": "a"}, UserEnvVars: map[string]string{"Y": "2"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}}})
	if err != nil || op.GetError() != nil {
		t.Fatal(err, op.GetError())
	}
	after, _ := svc.GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: name})
	if len(after.GetLabels()) != 1 || after.GetLabels()["team"] != "a" || after.GetUserEnvVars()["X"] == "" || after.GetRevisionId() != before.GetRevisionId() {
		t.Errorf("after a labels update: %v", after)
	}
	op, err = svc.UpdateWorkflow(ctx, &workflowspb.UpdateWorkflowRequest{
		Workflow:   &workflowspb.Workflow{Name: name, UserEnvVars: map[string]string{"Y": "2"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"userEnvVars"}}})
	if err != nil || op.GetError() != nil {
		t.Fatal(err, op.GetError())
	}
	after, _ = svc.GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: name})
	if len(after.GetUserEnvVars()) != 1 || after.GetUserEnvVars()["Y"] != "2" || !strings.HasPrefix(after.GetRevisionId(), "000002-") {
		t.Errorf("after a variables update: %v", after)
	}

	_, err = svc.UpdateWorkflow(ctx, &workflowspb.UpdateWorkflowRequest{Workflow: &workflowspb.Workflow{Name: loc + "/workflows/none", Description: "d"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}}})
	if status.Code(err) != codes.NotFound {
		t.Errorf("update of a missing workflow: %v", err)
	}
}
