package cloudtasks

import (
	"regexp"
	"strings"
)

// Resource-name grammar of spec section 2.1. These are immutable, compiled
// once; they hold no state.
var (
	projectIDRe  = regexp.MustCompile(`^[A-Za-z0-9\-:.]{1,100}$`)
	locationIDRe = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	queueIDRe    = regexp.MustCompile(`^[A-Za-z0-9-]{1,100}$`)
	taskIDRe     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,500}$`)
	// Operation IDs are ours; allow what we generate and a little more.
	operationIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)
)

// splitName splits name into its segments and checks that it alternates
// the given collection keywords with IDs, returning the IDs.
func splitName(name string, keywords ...string) ([]string, bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 2*len(keywords) {
		return nil, false
	}
	ids := make([]string, 0, len(keywords))
	for i, kw := range keywords {
		if parts[2*i] != kw || parts[2*i+1] == "" {
			return nil, false
		}
		ids = append(ids, parts[2*i+1])
	}
	return ids, true
}

// parseProject checks "projects/P".
func parseProject(name string) (project string, ok bool) {
	ids, ok := splitName(name, "projects")
	if !ok || !projectIDRe.MatchString(ids[0]) {
		return "", false
	}
	return ids[0], true
}

// parseLocation checks "projects/P/locations/L".
func parseLocation(name string) (project, location string, ok bool) {
	ids, ok := splitName(name, "projects", "locations")
	if !ok || !projectIDRe.MatchString(ids[0]) || !locationIDRe.MatchString(ids[1]) || len(ids[1]) > 63 {
		return "", "", false
	}
	return ids[0], ids[1], true
}

// validQueueName checks "projects/P/locations/L/queues/Q".
func validQueueName(name string) bool {
	i := strings.LastIndex(name, "/queues/")
	if i < 0 {
		return false
	}
	if _, _, ok := parseLocation(name[:i]); !ok {
		return false
	}
	return queueIDRe.MatchString(name[i+len("/queues/"):])
}

// queueParts returns the project and location name of a valid queue
// name.
func queueParts(queue string) (project, location string) {
	location = queue[:strings.LastIndex(queue, "/queues/")]
	project, _, _ = parseLocation(location)
	return project, location
}

// splitTaskName splits "QUEUE/tasks/ID" without judging either half; ok is
// false when name has no tasks segment at all.
func splitTaskName(name string) (queue, id string, ok bool) {
	i := strings.LastIndex(name, "/tasks/")
	if i < 0 {
		return "", "", false
	}
	return name[:i], name[i+len("/tasks/"):], true
}

// parseTaskName checks a full task name and returns its queue and ID, or
// the INVALID_ARGUMENT error Cloud Tasks gives for it.
func parseTaskName(name string) (queue, id string, err error) {
	queue, id, ok := splitTaskName(name)
	if !ok || !validQueueName(queue) {
		return "", "", invalid(msgTaskNameFormat)
	}
	if !taskIDRe.MatchString(id) {
		return "", "", errTaskID(id)
	}
	return queue, id, nil
}

// parseCmekName checks "projects/P/locations/L/cmekConfig" and returns the
// location name.
func parseCmekName(name string) (location string, ok bool) {
	loc, found := strings.CutSuffix(name, "/cmekConfig")
	if !found {
		return "", false
	}
	if _, _, ok := parseLocation(loc); !ok {
		return "", false
	}
	return loc, true
}

// parseOperationName checks "projects/P/locations/L/operations/O".
func parseOperationName(name string) bool {
	ids, ok := splitName(name, "projects", "locations", "operations")
	return ok && projectIDRe.MatchString(ids[0]) && locationIDRe.MatchString(ids[1]) && operationIDRe.MatchString(ids[2])
}
