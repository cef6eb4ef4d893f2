package workflowsapi

import (
	"regexp"
	"strings"
)

var (
	projectIDRe  = regexp.MustCompile(`^[A-Za-z0-9\-:.]{1,100}$`)
	locationIDRe = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	// workflowIDRe: letters, digits, underscores and hyphens, starting with
	// a letter and ending with a letter or digit, at most 64 (the proto).
	workflowIDRe = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9_-]{0,62}[A-Za-z0-9])?$`)
	// executionIDRe admits the UUIDs this server makes and any similar ID.
	executionIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)
)

// Name formats, in the words of the API's own errors.
const (
	msgLocationFormat  = `Location name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>".`
	msgWorkflowFormat  = `Workflow name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/workflows/<WORKFLOW_ID>".`
	msgExecutionFormat = `Execution name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/workflows/<WORKFLOW_ID>/executions/<EXECUTION_ID>".`
)

// split returns the IDs of name = kinds[0]/ID0/kinds[1]/ID1/...
func split(name string, kinds ...string) ([]string, bool) {
	segs := strings.Split(name, "/")
	if len(segs) != 2*len(kinds) {
		return nil, false
	}
	ids := make([]string, len(kinds))
	for i, k := range kinds {
		if segs[2*i] != k || segs[2*i+1] == "" {
			return nil, false
		}
		ids[i] = segs[2*i+1]
	}
	return ids, true
}

// parseLocation checks projects/P/locations/L.
func parseLocation(name string) (project, location string, ok bool) {
	ids, ok := split(name, "projects", "locations")
	if !ok || !projectIDRe.MatchString(ids[0]) || !locationIDRe.MatchString(ids[1]) {
		return "", "", false
	}
	return ids[0], ids[1], true
}

// workflowName is a parsed projects/P/locations/L/workflows/W.
type workflowName struct {
	project, location, id string
}

func (w workflowName) String() string {
	return "projects/" + w.project + "/locations/" + w.location + "/workflows/" + w.id
}

func parseWorkflow(name string) (workflowName, bool) {
	ids, ok := split(name, "projects", "locations", "workflows")
	if !ok || !projectIDRe.MatchString(ids[0]) || !locationIDRe.MatchString(ids[1]) || !workflowIDRe.MatchString(ids[2]) {
		return workflowName{}, false
	}
	return workflowName{ids[0], ids[1], ids[2]}, true
}

// parseExecution checks WORKFLOW/executions/ID.
func parseExecution(name string) (workflowName, string, bool) {
	wf, id, ok := strings.Cut(name, "/executions/")
	if !ok || !executionIDRe.MatchString(id) {
		return workflowName{}, "", false
	}
	w, ok := parseWorkflow(wf)
	return w, id, ok
}
