package cloudtasks

import "strings"

// Resource-name grammar of spec section 2.1. These are immutable; they
// hold no state.
var (
	projectIDRe  = idGrammar{max: 100, extra: "-:."}
	locationIDRe = idGrammar{max: 63, lower: true, dashed: true}
	queueIDRe    = idGrammar{max: 100, extra: "-"}
	taskIDRe     = idGrammar{max: 500, extra: "_-"}
	// Operation IDs are ours; allow what we generate and a little more.
	operationIDRe = idGrammar{max: 100, extra: "_-"}
)

// idGrammar is an ID's grammar: 1 to max of letters (lower case only if
// lower), digits and the extra characters; if dashed, also '-', between
// two of the others only (`^[a-z0-9]+(-[a-z0-9]+)*$`). A loop rather than
// a regexp: every call checks a name, and the regexps took 3% of a
// create's instructions (callgrind).
type idGrammar struct {
	max    int
	lower  bool
	extra  string
	dashed bool
}

// MatchString reports whether s is an ID of the grammar.
func (g idGrammar) MatchString(s string) bool {
	if len(s) == 0 || len(s) > g.max {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z':
		case c >= 'A' && c <= 'Z':
			if g.lower {
				return false
			}
		case c == '-' && g.dashed:
			if i == 0 || i == len(s)-1 || s[i-1] == '-' {
				return false
			}
		case strings.IndexByte(g.extra, c) < 0:
			return false
		}
	}
	return true
}

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
	if !ok || !projectIDRe.MatchString(ids[0]) || !locationIDRe.MatchString(ids[1]) {
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
