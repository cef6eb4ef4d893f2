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
