package server

import (
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// bufferTarget recognises the two BufferTask routes (spec 6.5), which are
// in the REST surface but not in the v2 proto, so no transcoder knows them:
//
//	POST /v2/projects/P/locations/L/queues/Q/tasks/{taskId}:buffer
//	POST /v2/projects/P/locations/L/queues/Q/tasks:buffer
func bufferTarget(r *http.Request) (queue, taskID string, ok bool) {
	if r.Method != http.MethodPost {
		return "", "", false
	}
	p, ok := strings.CutSuffix(r.URL.Path, ":buffer")
	if !ok {
		return "", "", false
	}
	p, ok = strings.CutPrefix(p, "/v2/")
	if !ok {
		return "", "", false
	}
	segs := strings.Split(p, "/")
	if len(segs) != 7 && len(segs) != 8 {
		return "", "", false
	}
	for i, want := range []string{"projects", "locations", "queues", "tasks"} {
		if segs[2*i] != want || (i < 3 && segs[2*i+1] == "") {
			return "", "", false
		}
	}
	if len(segs) == 8 {
		if segs[7] == "" {
			return "", "", false
		}
		taskID = segs[7]
	}
	return strings.Join(segs[:6], "/"), taskID, true
}

// buffer answers BufferTask with {"task": Task}.
func (s *rest) buffer(w http.ResponseWriter, r *http.Request, queue, taskID string, body []byte, enumNumbers bool) {
	task, err := s.api.BufferTask(r.Context(), queue, taskID, body, r.Header.Get("Content-Type"))
	if err != nil {
		logServerFault(r.Context(), s.log, "/google.cloud.tasks.v2.CloudTasks/BufferTask", queue, err)
		writeError(w, status.Convert(err))
		return
	}
	b, err := protojson.MarshalOptions{UseEnumNumbers: enumNumbers}.Marshal(task)
	if err != nil {
		writeError(w, status.Newf(codes.Internal, "Cannot encode task: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write([]byte(`{"task":`))
	_, _ = w.Write(b)
	_, _ = w.Write([]byte(`}`))
}
