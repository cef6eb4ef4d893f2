package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	workflows "cloud.google.com/go/workflows/apiv1"
	"cloud.google.com/go/workflows/apiv1/workflowspb"
	executions "cloud.google.com/go/workflows/executions/apiv1"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// Workflows is `opentasks workflows` against a server (gcloud workflows);
// cmd/opentasks keeps `workflows run FILE`, the local run of a file.
func Workflows() *Group {
	return &Group{
		Name:    "workflows",
		Summary: "Deploy and run Cloud Workflows on an OpenTasks server (as gcloud workflows).",
		Commands: []*Command{
			{Name: "deploy", Args: "WORKFLOW", Summary: "Create or update a workflow from a source file.", Flags: registerDeploy, Run: deployWorkflow},
			{Name: "describe", Args: "WORKFLOW", Summary: "Show a workflow (--revision for an older one).", Flags: registerRevision, Run: describeWorkflow},
			{Name: "list", Summary: "List the workflows of a location.", Flags: registerSortedList(`state=ACTIVE`, `"updateTime desc"`), Run: listWorkflows},
			{Name: "delete", Args: "WORKFLOW", Summary: "Delete a workflow and its executions.", Run: deleteWorkflow},
			{Name: "run", Args: "WORKFLOW", Summary: "Execute a workflow, wait for it to end and print the execution.", Flags: registerExecute, Run: runWorkflow},
			{Name: "execute", Args: "WORKFLOW", Summary: "Start an execution of a workflow and print it without waiting.", Flags: registerExecute, Run: executeWorkflow},
		},
	}
}

// WorkflowExecutions is `opentasks workflows executions`.
func WorkflowExecutions() *Group {
	return &Group{
		Name:    "workflows executions",
		Summary: "Read and cancel workflow executions (as gcloud workflows executions).",
		Commands: []*Command{
			{Name: "list", Args: "WORKFLOW", Summary: "List a workflow's executions, newest first.", Flags: registerSortedList(`state="FAILED"`, `"startTime desc" (the default)`), Run: listExecutions},
			{Name: "describe", Args: "EXECUTION", Summary: "Show an execution (ID with --workflow, or its full name).", Flags: registerWorkflowFlag, Run: describeExecution()},
			{Name: "cancel", Args: "EXECUTION", Summary: "Cancel an execution.", Flags: registerWorkflowFlag, Run: cancelExecution()},
		},
	}
}

// workflowName is WORKFLOW as a full name: a short ID goes under
// --project and --location.
func (c *Call) workflowName(arg string) string {
	if strings.HasPrefix(arg, "projects/") {
		return arg
	}
	return c.LocationName() + "/workflows/" + arg
}

// executionName is EXECUTION as a full name: an ID needs --workflow.
func (c *Call) executionName(arg string) (string, error) {
	if strings.HasPrefix(arg, "projects/") {
		return arg, nil
	}
	wf := c.Flags.Lookup("workflow").Value.String()
	if wf == "" {
		return "", Usagef("argument --workflow: Must be specified with an execution ID (or give the full execution name).")
	}
	return c.workflowName(wf) + "/executions/" + arg, nil
}

// withWorkflows runs f with a Workflows client in REST mode.
func (c *Call) withWorkflows(ctx context.Context, f func(*workflows.Client) error) error {
	client, err := workflows.NewRESTClient(ctx, c.ClientOptions()...)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", c.Endpoint, err)
	}
	defer client.Close()
	return f(client)
}

// withExecutions runs f with an Executions client. Google's Go client for
// Executions speaks gRPC only; OpenTasks serves gRPC on the same port, in
// plain text for an http:// endpoint. $OPENTASKS_TOKEN goes with every
// call, as ClientOptions sends it.
func (c *Call) withExecutions(ctx context.Context, f func(*executions.Client) error) error {
	host := strings.TrimPrefix(strings.TrimPrefix(c.Endpoint, "https://"), "http://")
	opts := []option.ClientOption{option.WithEndpoint(host)}
	switch {
	case strings.HasPrefix(c.Endpoint, "http://"):
		opts = append(opts, option.WithoutAuthentication(), option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
		if c.Token != "" {
			// The client's own token credentials refuse a plain-text
			// connection; the server was started to accept that.
			opts = append(opts, option.WithGRPCDialOption(grpc.WithPerRPCCredentials(plainTextBearer(c.Token))))
		}
	case c.Token != "":
		opts = append(opts, option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: c.Token})))
	}
	client, err := executions.NewClient(ctx, opts...)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", c.Endpoint, err)
	}
	defer client.Close()
	return f(client)
}

func workflowColumns() []Column[*workflowspb.Workflow] {
	return []Column[*workflowspb.Workflow]{
		{"NAME", func(w *workflowspb.Workflow) string { return w.GetName() }},
		{"STATE", func(w *workflowspb.Workflow) string { return w.GetState().String() }},
		{"REVISION_ID", func(w *workflowspb.Workflow) string { return w.GetRevisionId() }},
		{"UPDATE_TIME", func(w *workflowspb.Workflow) string { return w.GetUpdateTime().AsTime().Format(time.RFC3339) }},
	}
}

func executionColumns() []Column[*executionspb.Execution] {
	return []Column[*executionspb.Execution]{
		{"NAME", func(e *executionspb.Execution) string { return e.GetName() }},
		{"STATE", func(e *executionspb.Execution) string { return e.GetState().String() }},
		{"START_TIME", func(e *executionspb.Execution) string { return e.GetStartTime().AsTime().Format(time.RFC3339) }},
		{"END_TIME", func(e *executionspb.Execution) string {
			if e.GetEndTime() == nil {
				return ""
			}
			return e.GetEndTime().AsTime().Format(time.RFC3339)
		}},
	}
}

func registerDeploy(fs *flag.FlagSet) {
	fs.String("source", "", "`FILE` of the workflow's definition (YAML or JSON), - for standard input; required")
	fs.String("description", "", "the workflow's description")
	fs.String("labels", "", "labels, KEY=VALUE,...")
	fs.String("set-env-vars", "", "user-defined environment variables for sys.get_env, KEY=VALUE,...")
	fs.String("call-log-level", "", "log-all-calls, log-errors-only or log-none")
	fs.String("service-account", "", "the service account the workflow runs as")
}

// pairs parses KEY=VALUE,... into a map.
func pairs(v string) (map[string]string, error) {
	if v == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not KEY=VALUE", kv)
		}
		out[k] = val
	}
	return out, nil
}

// enumFlag turns log-all-calls into the value of LOG_ALL_CALLS in values.
func enumFlag(flagName, v string, values map[string]int32) (int32, error) {
	if v == "" {
		return 0, nil
	}
	n, ok := values[strings.ToUpper(strings.ReplaceAll(v, "-", "_"))]
	if !ok {
		return 0, Usagef("--%s %q: not a valid level", flagName, v)
	}
	return n, nil
}

func deployWorkflow(ctx context.Context, c *Call, args []string) error {
	id, err := oneArg(args, "WORKFLOW")
	if err != nil {
		return err
	}
	get := func(n string) string { return c.Flags.Lookup(n).Value.String() }
	src := get("source")
	if src == "" {
		return Usagef("--source is required")
	}
	var body []byte
	if src == "-" {
		body, err = io.ReadAll(c.Stdin)
	} else {
		body, err = os.ReadFile(src)
	}
	if err != nil {
		return fmt.Errorf("reading --source: %w", err)
	}
	w := &workflowspb.Workflow{
		Name:           c.workflowName(id),
		Description:    get("description"),
		ServiceAccount: get("service-account"),
		SourceCode:     &workflowspb.Workflow_SourceContents{SourceContents: string(body)},
	}
	if w.Labels, err = pairs(get("labels")); err != nil {
		return Usagef("--labels: %v", err)
	}
	if w.UserEnvVars, err = pairs(get("set-env-vars")); err != nil {
		return Usagef("--set-env-vars: %v", err)
	}
	level, err := enumFlag("call-log-level", get("call-log-level"), workflowspb.Workflow_CallLogLevel_value)
	if err != nil {
		return err
	}
	w.CallLogLevel = workflowspb.Workflow_CallLogLevel(level)
	return c.withWorkflows(ctx, func(client *workflows.Client) error {
		// gcloud's deploy creates the workflow, or updates what was given.
		_, err := client.GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: w.Name})
		var out *workflowspb.Workflow
		switch {
		case status.Code(err) == codes.NotFound:
			parent, wid, _ := strings.Cut(w.Name, "/workflows/")
			op, err := client.CreateWorkflow(ctx, &workflowspb.CreateWorkflowRequest{Parent: parent, WorkflowId: wid, Workflow: w})
			if err != nil {
				return err
			}
			Status(c, "Waiting for operation [%s] to complete...done.", op.Name())
			if out, err = op.Wait(ctx); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			mask := &fieldmaskpb.FieldMask{Paths: []string{"source_contents"}}
			for flagName, path := range map[string]string{"description": "description", "labels": "labels",
				"set-env-vars": "user_env_vars", "call-log-level": "call_log_level", "service-account": "service_account"} {
				if get(flagName) != "" {
					mask.Paths = append(mask.Paths, path)
				}
			}
			op, err := client.UpdateWorkflow(ctx, &workflowspb.UpdateWorkflowRequest{Workflow: w, UpdateMask: mask})
			if err != nil {
				return err
			}
			Status(c, "Waiting for operation [%s] to complete...done.", op.Name())
			if out, err = op.Wait(ctx); err != nil {
				return err
			}
		}
		return PrintOne(c, out, workflowColumns())
	})
}

func registerRevision(fs *flag.FlagSet) {
	fs.String("revision", "", "revision ID to show (default: the latest)")
}

func describeWorkflow(ctx context.Context, c *Call, args []string) error {
	id, err := oneArg(args, "WORKFLOW")
	if err != nil {
		return err
	}
	return c.withWorkflows(ctx, func(client *workflows.Client) error {
		w, err := client.GetWorkflow(ctx, &workflowspb.GetWorkflowRequest{Name: c.workflowName(id), RevisionId: c.Flags.Lookup("revision").Value.String()})
		if err != nil {
			return err
		}
		return PrintOne(c, w, workflowColumns())
	})
}

// registerSortedList registers list's flags, with a server-side order.
func registerSortedList(filterExample, orderExample string) func(fs *flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		registerList(true)(fs)
		fs.Lookup("filter").Usage = "server-side filter (AIP-160), e.g. " + filterExample
		fs.Lookup("sort-by").Usage = "server-side order, e.g. " + orderExample
	}
}

func listWorkflows(ctx context.Context, c *Call, args []string) error {
	if len(args) > 0 {
		return Usagef("unrecognized arguments: %s", strings.Join(args, " "))
	}
	lf, err := listOptions(c.Flags)
	if err != nil {
		return err
	}
	// The API orders (order_by): no sorting here.
	lf.sortBy = nil
	return c.withWorkflows(ctx, func(client *workflows.Client) error {
		it := client.ListWorkflows(ctx, &workflowspb.ListWorkflowsRequest{Parent: c.LocationName(), Filter: lf.filter,
			OrderBy: c.Flags.Lookup("sort-by").Value.String(), PageSize: int32(lf.pageSize)})
		return listAll(c, lf, it.Next, workflowColumns())
	})
}

func deleteWorkflow(ctx context.Context, c *Call, args []string) error {
	id, err := oneArg(args, "WORKFLOW")
	if err != nil {
		return err
	}
	name := c.workflowName(id)
	if err := c.Confirm(fmt.Sprintf("You are about to delete workflow [%s].", id)); err != nil {
		return err
	}
	return c.withWorkflows(ctx, func(client *workflows.Client) error {
		op, err := client.DeleteWorkflow(ctx, &workflowspb.DeleteWorkflowRequest{Name: name})
		if err != nil {
			return err
		}
		if err := op.Wait(ctx); err != nil {
			return err
		}
		Status(c, "Deleted workflow [%s].", id)
		return nil
	})
}

func registerExecute(fs *flag.FlagSet) {
	fs.String("data", "", "the execution's argument, as JSON")
	fs.String("call-log-level", "", "log-all-calls, log-errors-only or log-none")
	fs.String("labels", "", "the execution's labels, KEY=VALUE,...")
}

// startExecution creates an execution from the run/execute flags.
func startExecution(ctx context.Context, c *Call, client *executions.Client, args []string) (*executionspb.Execution, error) {
	id, err := oneArg(args, "WORKFLOW")
	if err != nil {
		return nil, err
	}
	get := func(n string) string { return c.Flags.Lookup(n).Value.String() }
	level, err := enumFlag("call-log-level", get("call-log-level"), executionspb.Execution_CallLogLevel_value)
	if err != nil {
		return nil, err
	}
	labels, err := pairs(get("labels"))
	if err != nil {
		return nil, Usagef("--labels: %v", err)
	}
	return client.CreateExecution(ctx, &executionspb.CreateExecutionRequest{Parent: c.workflowName(id), Execution: &executionspb.Execution{
		Argument: get("data"), CallLogLevel: executionspb.Execution_CallLogLevel(level), Labels: labels,
	}})
}

func executeWorkflow(ctx context.Context, c *Call, args []string) error {
	return c.withExecutions(ctx, func(client *executions.Client) error {
		e, err := startExecution(ctx, c, client, args)
		if err != nil {
			return err
		}
		Status(c, "Created [%s].", executionID(e.GetName()))
		return PrintOne(c, e, executionColumns())
	})
}

// runWorkflow starts an execution and polls it until it ends, then prints
// it, as `gcloud workflows run` does; it fails unless it SUCCEEDED.
func runWorkflow(ctx context.Context, c *Call, args []string) error {
	return c.withExecutions(ctx, func(client *executions.Client) error {
		e, err := startExecution(ctx, c, client, args)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.Stderr, "Waiting for execution [%s] to complete...", executionID(e.GetName()))
		for wait := 50 * time.Millisecond; e.GetState() == executionspb.Execution_ACTIVE || e.GetState() == executionspb.Execution_QUEUED; wait = min(2*wait, time.Second) {
			select {
			case <-ctx.Done():
				fmt.Fprintln(c.Stderr)
				return ctx.Err()
			case <-time.After(wait):
			}
			if e, err = client.GetExecution(ctx, &executionspb.GetExecutionRequest{Name: e.GetName()}); err != nil {
				fmt.Fprintln(c.Stderr)
				return err
			}
		}
		fmt.Fprintln(c.Stderr, "done.")
		if err := PrintOne(c, e, executionColumns()); err != nil {
			return err
		}
		if e.GetState() != executionspb.Execution_SUCCEEDED {
			// Exit 1 after printing it.
			return fmt.Errorf("execution did not succeed: %s", e.GetState())
		}
		return nil
	})
}

func executionID(name string) string { return name[strings.LastIndex(name, "/")+1:] }

func registerWorkflowFlag(fs *flag.FlagSet) {
	fs.String("workflow", "", "the workflow of an execution given by ID")
}

func listExecutions(ctx context.Context, c *Call, args []string) error {
	id, err := oneArg(args, "WORKFLOW")
	if err != nil {
		return err
	}
	lf, err := listOptions(c.Flags)
	if err != nil {
		return err
	}
	// The API orders (order_by): no sorting here.
	lf.sortBy = nil
	return c.withExecutions(ctx, func(client *executions.Client) error {
		it := client.ListExecutions(ctx, &executionspb.ListExecutionsRequest{Parent: c.workflowName(id), Filter: lf.filter,
			OrderBy: c.Flags.Lookup("sort-by").Value.String(), PageSize: int32(lf.pageSize)})
		return listAll(c, lf, it.Next, executionColumns())
	})
}

// onExecution runs f on the execution named by the one argument.
func onExecution(f func(ctx context.Context, c *Call, client *executions.Client, name string) error) func(context.Context, *Call, []string) error {
	return func(ctx context.Context, c *Call, args []string) error {
		arg, err := oneArg(args, "EXECUTION")
		if err != nil {
			return err
		}
		name, err := c.executionName(arg)
		if err != nil {
			return err
		}
		return c.withExecutions(ctx, func(client *executions.Client) error { return f(ctx, c, client, name) })
	}
}

func describeExecution() func(context.Context, *Call, []string) error {
	return onExecution(func(ctx context.Context, c *Call, client *executions.Client, name string) error {
		e, err := client.GetExecution(ctx, &executionspb.GetExecutionRequest{Name: name})
		if err != nil {
			return err
		}
		return PrintOne(c, e, executionColumns())
	})
}

func cancelExecution() func(context.Context, *Call, []string) error {
	return onExecution(func(ctx context.Context, c *Call, client *executions.Client, name string) error {
		e, err := client.CancelExecution(ctx, &executionspb.CancelExecutionRequest{Name: name})
		if err != nil {
			return err
		}
		Status(c, "Cancelled execution [%s].", executionID(name))
		return PrintResult(c, e, executionColumns())
	})
}

// plainTextBearer sends a bearer token over plain-text gRPC.
type plainTextBearer string

func (b plainTextBearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (plainTextBearer) RequireTransportSecurity() bool { return false }
