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

// routedProject is the check Google's front end makes before Cloud Tasks
// sees a call: it reads the project out of the resource the call is routed
// on (the field the client puts in x-goog-request-params: parent, name,
// queue.name, resource, cmek_config.name) and refuses a project it does not
// know with PERMISSION_DENIED and the CONSUMER_INVALID details. Recorded:
// CreateQueue with parent "not-a-valid-parent" is refused on project
// "not-a-valid-parent", so a name that does not start with "projects/" is
// read as a project ID whole. OpenTasks knows every well-formed project, so
// only a malformed one is refused; the rest of the name is Cloud Tasks' to
// judge, with the messages of spec section 10. An empty name is a missing
// field, left to the call's own INVALID_ARGUMENT. The project of an
// unprefixed name with slashes, or of "projects/" with an empty segment, is
// not recorded: the whole name is used [INF].
func routedProject(name string) error {
	if name == "" {
		return nil
	}
	if rest, ok := strings.CutPrefix(name, "projects/"); ok {
		project, _, _ := strings.Cut(rest, "/")
		if projectIDRe.MatchString(project) {
			return nil
		}
		if project != "" {
			return errConsumerInvalid(project)
		}
	}
	return errConsumerInvalid(name)
}

// checkLocation checks a location name a call is routed on.
func checkLocation(name string) error {
	if err := routedProject(name); err != nil {
		return err
	}
	if _, _, ok := parseLocation(name); !ok {
		return invalid(msgLocationNameFormat)
	}
	return nil
}

// checkQueue checks a queue name a call is routed on.
func checkQueue(name string) error {
	if err := routedProject(name); err != nil {
		return err
	}
	if !validQueueName(name) {
		return errQueueNameFormat()
	}
	return nil
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

// parseRoutedTaskName is parseTaskName for a task name a call is routed on.
func parseRoutedTaskName(name string) (queue, id string, err error) {
	if err := routedProject(name); err != nil {
		return "", "", err
	}
	return parseTaskName(name)
}

// cmekLocation checks "projects/P/locations/L/cmekConfig", a name a call is
// routed on, and returns the location name.
func cmekLocation(name string) (location string, err error) {
	if err := routedProject(name); err != nil {
		return "", err
	}
	loc, found := strings.CutSuffix(name, "/cmekConfig")
	if !found {
		return "", invalid(msgCmekNameFormat)
	}
	if _, _, ok := parseLocation(loc); !ok {
		return "", invalid(msgCmekNameFormat)
	}
	return loc, nil
}

// checkOperation checks "projects/P/locations/L/operations/O", a name a
// call is routed on.
func checkOperation(name string) error {
	if err := routedProject(name); err != nil {
		return err
	}
	ids, ok := splitName(name, "projects", "locations", "operations")
	if !ok || !projectIDRe.MatchString(ids[0]) || !locationIDRe.MatchString(ids[1]) || !operationIDRe.MatchString(ids[2]) {
		return invalid(msgOperationFormat)
	}
	return nil
}
