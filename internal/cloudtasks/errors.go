package cloudtasks

import (
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
)

// Messages that real Cloud Tasks returns verbatim (spec sections 1.3 and 10).
const (
	msgQueueNotFound    = "Queue does not exist. If you just created the queue, wait at least a minute for the queue to initialize."
	msgNotFound         = "Requested entity was not found."
	msgQueueExists      = "Queue already exists"
	msgQueueTombstoned  = "The queue cannot be created because a queue with this name existed too recently."
	msgTaskExists       = "Requested entity already exists"
	msgTaskTombstoned   = "The task no longer exists, though a task with this name existed recently. The task either successfully completed or was deleted."
	msgQueueNameFormat  = `Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>".`
	msgTaskTooLarge     = "Task size too large"
	msgDispatchDisabled = "dispatch is disabled"
	msgBatchNoneOK      = "None of the requests succeeded, refer to %s.failed_requests for individual error details"

	// Not observed on real Cloud Tasks; worded after the observed ones.
	msgLocationNameFormat = `Location name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>".`
	msgTaskNameFormat     = `Task name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>/tasks/<TASK_ID>".`
	msgProjectNameFormat  = `Project name must be formatted: "projects/<PROJECT_ID>".`
	msgCmekNameFormat     = `CmekConfig name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/cmekConfig".`
	msgOperationFormat    = `Operation name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/operations/<OPERATION_ID>".`
)

const (
	helpQueueName = "https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues#Queue.FIELDS.name"
	helpTaskName  = "https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues.tasks#Task.FIELDS.name"
)

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// withDetails returns a status error carrying details, in that order.
func withDetails(code codes.Code, msg string, details ...protoadapt.MessageV1) error {
	st, err := status.New(code, msg).WithDetails(details...)
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}

// withHelp returns a status error carrying one google.rpc.Help link.
func withHelp(code codes.Code, msg, description, url string) error {
	return withDetails(code, msg, &errdetails.Help{
		Links: []*errdetails.Help_Link{{Description: description, Url: url}},
	})
}

// errConsumerInvalid is Google's front end refusing a call whose resource
// names no project it knows, before Cloud Tasks sees it: recorded for
// CreateQueue with parent "not-a-valid-parent" (IAM_SPEC section 4, "Unknown
// project"; the golden file of aertje/cloud-tasks-emulator, conformance/
// golden/realcloud.json), details in the recorded order.
func errConsumerInvalid(project string) error {
	msg := fmt.Sprintf("Permission denied on resource project %s.", project)
	return withDetails(codes.PermissionDenied, msg,
		&errdetails.ErrorInfo{Reason: "CONSUMER_INVALID", Domain: "googleapis.com", Metadata: map[string]string{
			"consumer":      "projects/" + project,
			"containerInfo": project,
			"service":       "cloudtasks.googleapis.com",
		}},
		&errdetails.LocalizedMessage{Locale: "en-US", Message: msg},
		&errdetails.Help{Links: []*errdetails.Help_Link{{Description: "Google developers console", Url: "https://console.developers.google.com"}}},
	)
}

func errQueueNameFormat() error {
	return withHelp(codes.InvalidArgument, msgQueueNameFormat, "Definition of queue name", helpQueueName)
}

func errTaskID(id string) error {
	return withHelp(codes.InvalidArgument,
		fmt.Sprintf(`Task ID %q can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), or underscores (_). Task ID must between 1 and 500 characters.`, id),
		"Definition of task ID", helpTaskName)
}

func errQueueNotFound() error { return status.Error(codes.NotFound, msgQueueNotFound) }
func errNotFound() error      { return status.Error(codes.NotFound, msgNotFound) }
