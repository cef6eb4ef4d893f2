package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/opentasks/opentasks/internal/cloudtasks"
)

// clientRules bind the paths that other clients call, beside Google's own
// (docs/operations.md):
//
//   - Node's @google-cloud/tasks in REST mode (fallback) takes the
//     Locations mixin's rules from google-gax's defaults, which are /v1.
//   - firebase-admin's task queues, with CLOUD_TASKS_EMULATOR_HOST set,
//     create and delete tasks at the API's paths without the /v2 prefix,
//     as firebase-tools' emulator serves them (firebaseCreate adapts the
//     create call's URL and answer).
//
// The Python client's REST transport uses Google's /v2 rules for every
// method and mixin (tasks_v2 transports/rest_base.py): nothing to add.
var clientRules = []*annotations.HttpRule{
	{Selector: "google.cloud.tasks.v2.CloudTasks.CreateTask", Pattern: &annotations.HttpRule_Post{Post: "/{parent=projects/*/locations/*/queues/*}/tasks"}, Body: "*"},
	{Selector: "google.cloud.tasks.v2.CloudTasks.DeleteTask", Pattern: &annotations.HttpRule_Delete{Delete: "/{name=projects/*/locations/*/queues/*/tasks/*}"}},
}

// firebaseQueue recognises firebase-admin's create call,
// POST /projects/P/locations/L/queues/Q/tasks, and returns the queue.
func firebaseQueue(r *http.Request) (string, bool) {
	if r.Method != http.MethodPost {
		return "", false
	}
	p, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/tasks")
	if !ok || !strings.HasPrefix(p, "projects/") {
		return "", false
	}
	segs := strings.Split(p, "/")
	if len(segs) != 6 || segs[2] != "locations" || segs[4] != "queues" {
		return "", false
	}
	return p, true
}

// firebaseBody fills the task's url when firebase-admin left it empty, as
// it does towards an emulator (the emulator knows the function's URL from
// the function's registration). OpenTasks takes it from the queue's
// httpTarget.uriOverride, which the delivery applies anyway. Anything it
// cannot read goes to the transcoder untouched, which reports it.
func (s *rest) firebaseBody(r *http.Request, queue string, body []byte) ([]byte, *status.Status) {
	var req map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil {
		return body, nil
	}
	var task map[string]json.RawMessage
	if json.Unmarshal(req["task"], &task) != nil {
		return body, nil
	}
	key := "httpRequest"
	if _, ok := task[key]; !ok {
		key = "http_request"
	}
	var hr map[string]json.RawMessage
	if json.Unmarshal(task[key], &hr) != nil || hr == nil {
		return body, nil
	}
	var url string
	if u, ok := hr["url"]; ok && json.Unmarshal(u, &url) != nil {
		return body, nil
	}
	if url != "" {
		return body, nil
	}
	q, err := s.api.GetQueue(r.Context(), &cloudtaskspb.GetQueueRequest{Name: queue})
	if err != nil {
		logServerFault(r.Context(), s.log, "/google.cloud.tasks.v2.CloudTasks/GetQueue", queue, err)
		return nil, status.Convert(err)
	}
	o := q.GetHttpTarget().GetUriOverride()
	if o.GetHost() == "" {
		return nil, status.Newf(codes.InvalidArgument, "HttpRequest.url is required. (firebase-admin sends no url to an emulator: give queue %s an httpTarget.uriOverride naming the function's URL.)", queue)
	}
	hr["url"], _ = json.Marshal(cloudtasks.OverrideURL(o))
	task[key], _ = json.Marshal(hr)
	req["task"], _ = json.Marshal(task)
	out, err := json.Marshal(req)
	if err != nil {
		return nil, status.Newf(codes.Internal, "Cannot re-encode the request: %v", err)
	}
	return out, nil
}

// firebaseAnswer turns CreateTask's answer into the emulator's,
// {"task": {..., "name": "/projects/..."}}: firebase-admin for Python reads
// task.name from it and drops the first character (firebase-tools'
// emulator names tasks with a leading slash); Node ignores the answer.
// Errors pass unchanged: both SDKs read Google's error shape.
func firebaseAnswer(w http.ResponseWriter, rec *recorder) {
	var task map[string]json.RawMessage
	if rec.code != http.StatusOK || json.Unmarshal(rec.body.Bytes(), &task) != nil {
		rec.replay(w)
		return
	}
	var name string
	_ = json.Unmarshal(task["name"], &name)
	task["name"], _ = json.Marshal("/" + name)
	b, err := json.Marshal(map[string]any{"task": task})
	if err != nil {
		writeError(w, status.Newf(codes.Internal, "Cannot encode task: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(b)
}

// recorder keeps a transcoded answer for firebaseAnswer to rewrite.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}, code: http.StatusOK} }

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)        { r.code = code }

func (r *recorder) replay(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(r.code)
	_, _ = w.Write(r.body.Bytes())
}
