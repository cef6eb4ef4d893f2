package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/genproto/googleapis/cloud/location"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// apiErrorOf reads err as callers of the official client do. The clients
// already return an *apierror.APIError; apierror.FromError on that again
// keeps a REST error's code and message but drops its details and HTTP
// status (it rebuilds from GRPCStatus, which a REST APIError has without
// details), against Google as here. So: errors.As first, and
// apierror.FromError for a googleapi.Error or a bare status.
func apiErrorOf(err error) (*apierror.APIError, bool) {
	var ae *apierror.APIError
	if errors.As(err, &ae) {
		return ae, true
	}
	return apierror.FromError(err)
}

// detailsOf lists the error details the official client found in err, in
// a fixed order, whichever transport carried them.
func detailsOf(ae *apierror.APIError) []proto.Message {
	d := ae.Details()
	var out []proto.Message
	for _, m := range []proto.Message{d.ErrorInfo, d.BadRequest, d.PreconditionFailure, d.QuotaFailure, d.RetryInfo,
		d.ResourceInfo, d.RequestInfo, d.DebugInfo, d.Help, d.LocalizedMessage} {
		if m.ProtoReflect().IsValid() {
			out = append(out, m)
		}
	}
	for _, u := range d.Unknown {
		if m, ok := u.(proto.Message); ok {
			out = append(out, m)
		}
	}
	return out
}

// wantDetails fails unless err, read as a caller of the official client
// reads it (apiErrorOf), has code and msg and exactly want as details, in
// that order, as sent: over gRPC the status's, over REST the body's
// error.details, which the client must parse all of too.
func wantDetails(t *testing.T, err error, transport string, code codes.Code, msg string, want ...proto.Message) {
	t.Helper()
	ae, ok := apiErrorOf(err)
	if !ok {
		t.Fatalf("error %v is not an API error", err)
	}
	var got []proto.Message
	if transport == "grpc" {
		if ae.GRPCStatus().Code() != code {
			t.Fatalf("code = %v, want %v", ae.GRPCStatus().Code(), code)
		}
		for _, d := range ae.GRPCStatus().Details() {
			got = append(got, d.(proto.Message))
		}
	} else {
		if ae.HTTPCode() != apiHTTPStatus[code] {
			t.Fatalf("HTTP %d, want %d", ae.HTTPCode(), apiHTTPStatus[code])
		}
		var herr *googleapi.Error
		if !errors.As(err, &herr) {
			t.Fatalf("REST error %v is not a googleapi.Error", err)
		}
		var body struct {
			Error struct{ Details []json.RawMessage }
		}
		if err := json.Unmarshal([]byte(herr.Body), &body); err != nil {
			t.Fatalf("REST error body %q: %v", herr.Body, err)
		}
		for _, raw := range body.Error.Details {
			var a anypb.Any
			if err := protojson.Unmarshal(raw, &a); err != nil {
				t.Fatalf("detail %s: %v", raw, err)
			}
			m, err := a.UnmarshalNew()
			if err != nil {
				t.Fatalf("detail %s: %v", raw, err)
			}
			got = append(got, m)
		}
		if n := len(detailsOf(ae)); n != len(got) {
			t.Fatalf("the client parsed %d of the %d details sent", n, len(got))
		}
	}
	if ae.Message() != msg {
		t.Fatalf("message %q, want %q", ae.Message(), msg)
	}
	if len(got) != len(want) {
		t.Fatalf("details %v, want %v", got, want)
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("detail %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func consumerInvalid(project string) (string, []proto.Message) {
	msg := "Permission denied on resource project " + project + "."
	return msg, []proto.Message{
		&errdetails.ErrorInfo{Reason: "CONSUMER_INVALID", Domain: "googleapis.com", Metadata: map[string]string{
			"consumer": "projects/" + project, "containerInfo": project, "service": "cloudtasks.googleapis.com"}},
		&errdetails.LocalizedMessage{Locale: "en-US", Message: msg},
		&errdetails.Help{Links: []*errdetails.Help_Link{{Description: "Google developers console", Url: "https://console.developers.google.com"}}},
	}
}

func helpLink(description, url string) *errdetails.Help {
	return &errdetails.Help{Links: []*errdetails.Help_Link{{Description: description, Url: url}}}
}

// TestErrorDetails: each error that the spec's recordings show with
// details carries exactly those, in the recorded order, through the
// official Go client over gRPC and over REST.
func TestErrorDetails(t *testing.T) {
	e := newAPIEnv(t, apiBackends[0], false)
	// A project no project ID can be, yet a single path segment, so that
	// REST routes the call to the service.
	const badLoc = "projects/not_a_project/locations/us-central1"
	badMsg, badDetails := consumerInvalid("not_a_project")
	queueHelp := helpLink("Definition of queue name", "https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues#Queue.FIELDS.name")
	taskHelp := helpLink("Definition of task ID", "https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues.tasks#Task.FIELDS.name")

	ctx := context.Background()
	for transport, c := range e.clients {
		t.Run(transport, func(t *testing.T) {
			loc := "projects/details-" + transport + "/locations/us-central1"
			if _, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: loc, Queue: &cloudtaskspb.Queue{Name: loc + "/queues/q"}}); err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name    string
				call    func(c *cloudtasks.Client) error
				code    codes.Code
				msg     string
				details []proto.Message
			}{
				// Google's front end: the project of the resource a call is
				// routed on is checked before Cloud Tasks sees the call.
				{"CreateQueue under a malformed project", func(c *cloudtasks.Client) error {
					_, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: badLoc, Queue: &cloudtaskspb.Queue{Name: badLoc + "/queues/q"}})
					return err
				}, codes.PermissionDenied, badMsg, badDetails},
				{"ListQueues under a malformed project", func(c *cloudtasks.Client) error {
					_, err := c.ListQueues(ctx, &cloudtaskspb.ListQueuesRequest{Parent: badLoc}).Next()
					return err
				}, codes.PermissionDenied, badMsg, badDetails},
				{"GetLocation of a malformed project", func(c *cloudtasks.Client) error {
					_, err := c.GetLocation(ctx, &location.GetLocationRequest{Name: badLoc})
					return err
				}, codes.PermissionDenied, badMsg, badDetails},
				{"ListLocations of a malformed project", func(c *cloudtasks.Client) error {
					_, err := c.ListLocations(ctx, &location.ListLocationsRequest{Name: "projects/not_a_project"}).Next()
					return err
				}, codes.PermissionDenied, badMsg, badDetails},
				{"GetCmekConfig of a malformed project", func(c *cloudtasks.Client) error {
					_, err := c.GetCmekConfig(ctx, &cloudtaskspb.GetCmekConfigRequest{Name: badLoc + "/cmekConfig"})
					return err
				}, codes.PermissionDenied, badMsg, badDetails},
				{"GetOperation of a malformed project", func(c *cloudtasks.Client) error {
					_, err := c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: badLoc + "/operations/o"})
					return err
				}, codes.PermissionDenied, badMsg, badDetails},
				{"GetQueue of a malformed project", func(c *cloudtasks.Client) error {
					_, err := c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: badLoc + "/queues/q"})
					return err
				}, codes.PermissionDenied, badMsg, badDetails},
				{"CreateTask in a malformed project", func(c *cloudtasks.Client) error {
					_, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: badLoc + "/queues/q", Task: httpTask("", "https://example.com", nil)})
					return err
				}, codes.PermissionDenied, badMsg, badDetails},
				{"GetTask of a malformed project", func(c *cloudtasks.Client) error {
					_, err := c.GetTask(ctx, &cloudtaskspb.GetTaskRequest{Name: badLoc + "/queues/q/tasks/t"})
					return err
				}, codes.PermissionDenied, badMsg, badDetails},

				// Cloud Tasks' own name checks, past the front end.
				{"CreateQueue with a malformed queue name", func(c *cloudtasks.Client) error {
					_, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: loc, Queue: &cloudtaskspb.Queue{Name: "not-a-valid-queue-name"}})
					return err
				}, codes.InvalidArgument, msgQueueFormat, []proto.Message{queueHelp}},
				{"GetQueue with a malformed queue ID", func(c *cloudtasks.Client) error {
					_, err := c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: loc + "/queues/bad_id"})
					return err
				}, codes.InvalidArgument, msgQueueFormat, []proto.Message{queueHelp}},
				{"CreateTask with a malformed task ID", func(c *cloudtasks.Client) error {
					_, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: loc + "/queues/q", Task: httpTask(loc+"/queues/q/tasks/not a valid id", "https://example.com", nil)})
					return err
				}, codes.InvalidArgument, `Task ID "not a valid id" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), or underscores (_). Task ID must between 1 and 500 characters.`,
					[]proto.Message{taskHelp}},

				// Recorded without details: none are sent.
				{"GetQueue of a missing queue", func(c *cloudtasks.Client) error {
					_, err := c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: loc + "/queues/missing"})
					return err
				}, codes.NotFound, msgQueueNotFound, nil},
				{"CreateQueue of an existing queue", func(c *cloudtasks.Client) error {
					_, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: loc, Queue: &cloudtaskspb.Queue{Name: loc + "/queues/q"}})
					return err
				}, codes.AlreadyExists, "Queue already exists", nil},
				{"CreateTask naming another queue", func(c *cloudtasks.Client) error {
					_, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: loc + "/queues/q", Task: httpTask(loc+"/queues/q-other/tasks/t", "https://example.com", nil)})
					return err
				}, codes.InvalidArgument, "The queue name from request ('" + loc + "/queues/q') must be the same as the queue name in the named task ('" + loc + "/queues/q-other').", nil},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					wantDetails(t, tc.call(c), transport, tc.code, tc.msg, tc.details...)
				})
			}
		})
	}

	// The recorded call itself: CreateQueue with parent
	// "not-a-valid-parent". Over gRPC the front end refuses the project.
	// Over REST the Go client puts the parent in the path, which then
	// matches no route ({parent=projects/*/locations/*}/queues), and
	// Google's front end answers its HTML 404 page, never reaching Cloud
	// Tasks.
	const loc = "projects/details/locations/us-central1"
	_, err := e.clients["grpc"].CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: "not-a-valid-parent", Queue: &cloudtaskspb.Queue{Name: loc + "/queues/q"}})
	msg, details := consumerInvalid("not-a-valid-parent")
	wantDetails(t, err, "grpc", codes.PermissionDenied, msg, details...)

	_, err = e.clients["rest"].CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: "not-a-valid-parent", Queue: &cloudtaskspb.Queue{Name: loc + "/queues/q"}})
	var herr *googleapi.Error
	if !errors.As(err, &herr) || herr.Code != http.StatusNotFound || herr.Message != "" ||
		herr.Header.Get("Content-Type") != "text/html; charset=UTF-8" ||
		!strings.Contains(herr.Body, "The requested URL <code>/v2/not-a-valid-parent/queues?%24alt=json%3Benum-encoding%3Dint</code> was not found on this server.") {
		t.Fatalf("REST CreateQueue under not-a-valid-parent = %#v", err)
	}
	if ae, ok := apiErrorOf(err); !ok || len(detailsOf(ae)) != 0 {
		t.Fatalf("REST 404 page details: %v", err)
	}
}

// TestErrorDetailsUnknownJSONField: Google's front end refuses a REST body
// with an unknown field with a google.rpc.BadRequest detail (spec 9.2)
// naming where it is, from the rule's body field down, in proto names
// (see unknownfield.go). No official client can send one, so the requests
// are raw and the answers are read the way the Go REST client reads them
// (googleapi.CheckResponse, apierror.FromError).
func TestErrorDetailsUnknownJSONField(t *testing.T) {
	_, ts := startFake(t)
	const q = "/v2/projects/p/locations/l/queues/q"
	for _, c := range []struct{ path, body, at string }{
		{"/v2/projects/p/locations/l/queues", `{"name":"projects/p/locations/l/queues/q","bogus":1}`, "queue"},
		{"/v2/projects/p/locations/l/queues", `{"retryConfig":{"maxAttempts":1},"rateLimits":{"bogus":1}}`, "queue.rate_limits"},
		{q + "/tasks", `{"parent":"x","bogus":1}`, ""},
		{q + "/tasks", `{"task":{"httpRequest":{"url":"http://h","bogus":{"a":1}}}}`, "task.http_request"},
		{q + "/tasks:batchCreate", `{"requests":[{"task":{}},{"task":{"scheduleTime":"2026-01-01T00:00:00Z","bogus":1}}]}`, "requests[1].task"},
	} {
		t.Run(c.body, func(t *testing.T) {
			res, err := http.Post(ts.URL+c.path, "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			err = googleapi.CheckResponse(res)
			res.Body.Close()
			msg := `Invalid JSON payload received. Unknown name "bogus": Cannot find field.`
			if c.at != "" {
				msg = `Invalid JSON payload received. Unknown name "bogus" at '` + c.at + `': Cannot find field.`
			}
			wantDetails(t, err, "rest", codes.InvalidArgument, msg,
				&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: c.at, Description: msg}}})
		})
	}
}
