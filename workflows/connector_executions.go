package workflows

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
)

// The Workflow Executions connectors (googleapis.workflowexecutions.v1.
// projects.locations.workflows.executions.*): cancel, get and list are
// plain REST methods derived from the descriptors; create and the run
// helper wait for the execution they start, polling it with the
// connector_params polling policy (1 s, ×1.25, up to 60 s by default)
// until it ends or connector_params.timeout (default 1800 s, at most a
// year) passes, as the connector pages document. skip_polling returns
// after the first request: create with the new Execution, run with null.
// A child that does not succeed raises OperationError with the Execution
// as `operation`, the shape the execute-workflows-from-workflow tutorial
// shows.

const (
	tagOperation    = "OperationError"
	tagResponseType = "ResponseTypeError"
)

// runArgs are the run helper's arguments.
var runArgs = map[string]bool{
	"workflow_id": true, "argument": true, "location": true, "project_id": true,
	"callLogLevel": true, "connector_params": true,
}

// runRequest builds the CreateExecution request the run helper sends:
// the argument JSON-encoded, the caller's project and location unless
// given, and disableConcurrencyQuotaOverflowBuffering set as run does
// when the API has that field.
func (ex *execution) runRequest(args map[string]any) (string, []byte, error) {
	for k := range args {
		if !runArgs[k] {
			return "", nil, typeErrorf("%s: unexpected argument %q", executionsRun, k)
		}
	}
	str := func(key, def string) (string, error) {
		v, present := args[key]
		if !present || v == nil {
			return def, nil
		}
		s, ok := v.(string)
		if !ok {
			return "", typeErrorf("%s: argument %q must be a string, got %s", executionsRun, key, typeName(v))
		}
		return s, nil
	}
	id := ex.cfg.Identity
	workflow, err := str("workflow_id", "")
	if err != nil {
		return "", nil, err
	}
	project, err := str("project_id", id.ProjectID)
	if err != nil {
		return "", nil, err
	}
	location, err := str("location", id.Location)
	if err != nil {
		return "", nil, err
	}
	for key, v := range map[string]string{"workflow_id": workflow, "project_id": project, "location": location} {
		if v == "" || strings.Contains(v, "/") {
			return "", nil, valueErrorf("%s: %s must be a non-empty ID (the caller's project is used when GOOGLE_CLOUD_PROJECT_ID is set)", executionsRun, key)
		}
	}
	body := map[string]any{}
	if sendsNoBuffering() {
		body["disableConcurrencyQuotaOverflowBuffering"] = true
	}
	if a, present := args["argument"]; present {
		enc, err := EncodeJSON(a)
		if err != nil {
			return "", nil, typeErrorf("%s: argument cannot be sent: %v", executionsRun, err)
		}
		body["argument"] = string(enc)
	}
	level, err := str("callLogLevel", "")
	if err != nil {
		return "", nil, err
	}
	if level != "" {
		body["callLogLevel"] = level
	}
	data, err := EncodeJSON(body)
	if err != nil {
		return "", nil, err
	}
	target := strings.TrimRight(ex.cfg.Endpoint, "/") + "/v1/projects/" + url.PathEscape(project) +
		"/locations/" + url.PathEscape(location) + "/workflows/" + url.PathEscape(workflow) + "/executions"
	return target, data, nil
}

// sendsNoBuffering reports whether the Execution resource of the
// descriptors has disableConcurrencyQuotaOverflowBuffering, which run sets
// per its reference page: the field is newer than some API versions, and
// a REST server that knows only older ones rejects unknown fields.
var sendsNoBuffering = sync.OnceValue(func() bool {
	msg := (&executionspb.Execution{}).ProtoReflect().Descriptor()
	return msg.Fields().ByJSONName("disableConcurrencyQuotaOverflowBuffering") != nil
})

// awaitExecution polls the Execution created until it ends; a successful
// one is returned, any other end raises OperationError.
func (ex *execution) awaitExecution(ctx, tctx context.Context, name string, created any, params connectorParams) (map[string]any, error) {
	exe, ok := created.(map[string]any)
	resource, _ := exe["name"].(string)
	if !ok || resource == "" {
		return nil, errorf(tagResponseType, "%s: the response is not an Execution with a name", name)
	}
	segs := strings.Split(resource, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	target := strings.TrimRight(ex.cfg.Endpoint, "/") + "/v1/" + strings.Join(segs, "/")
	// The deadline is also kept on the run's clock, so that polling under
	// a fake clock times out as it would in real time.
	deadline := ex.cfg.Now().Add(params.timeout)
	for attempt := 0; ; attempt++ {
		state, ok := exe["state"].(string)
		if !ok {
			return nil, errorf(tagResponseType, "%s: the Execution %s has no state", name, resource)
		}
		switch state {
		case "SUCCEEDED":
			return exe, nil
		case "FAILED", "CANCELLED", "UNAVAILABLE":
			e := errorf(tagOperation, "Execution failed or cancelled.")
			e.Value.(map[string]any)["operation"] = exe
			return nil, e
		}
		delay := params.polling.delay(attempt)
		if ex.cfg.Now().Add(delay).After(deadline) {
			return nil, connectorTimedOut(ctx, name, params.timeout)
		}
		if err := ex.cfg.Sleep(tctx, delay); err != nil {
			return nil, connectorTimedOut(ctx, name, params.timeout)
		}
		got, err := ex.connectorSend(ctx, tctx, name, http.MethodGet, target, nil, params.timeout)
		if err != nil {
			return nil, err
		}
		if exe, ok = got.(map[string]any); !ok {
			return nil, errorf(tagResponseType, "%s: polling %s returned no Execution", name, resource)
		}
	}
}

// executionResult decodes a finished Execution's result, as run returns it.
func executionResult(name string, exe map[string]any) (any, error) {
	raw, present := exe["result"]
	if !present || raw == nil {
		return nil, nil
	}
	s, ok := raw.(string)
	if !ok {
		return nil, errorf(tagResponseType, "%s: the Execution's result is not a JSON string", name)
	}
	v, err := DecodeJSON([]byte(s))
	if err != nil {
		return nil, errorf(tagResponseType, "%s: the Execution's result is not JSON: %v", name, err)
	}
	return v, nil
}
