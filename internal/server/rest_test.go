package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/opentasks/opentasks/internal/server"
)

type restCase struct {
	name, method, path, contentType, body string
	wantCode                              int
	wantStatus                            string // canonical code name of an error
	wantBody                              string // substring of the response body
	wantCT                                string // Content-Type, when not Google's JSON error
	wantReq                               proto.Message
}

func TestREST(t *testing.T) {
	const q = "/v2/projects/p/locations/l/queues/q"
	cases := []restCase{
		{name: "health", method: "GET", path: "/healthz", wantCode: 200, wantBody: "ok"},
		{name: "enums by name by default", method: "GET", path: q, wantCode: 200, wantBody: `"state":"PAUSED"`},
		{name: "system parameters honoured and stripped", method: "GET",
			path:     q + "?$alt=json;enum-encoding=int&prettyPrint=false&key=k&%24.xgafv=2&fields=name&quotaUser=u&alt=json&access_token=x&oauth_token=y&callback=c&uploadType=u&upload_protocol=p",
			wantCode: 200, wantBody: `"state":2`},
		{name: "escaped $alt as the Go client sends it", method: "GET", path: q + "?%24alt=json%3Benum-encoding%3Dint", wantCode: 200, wantBody: `"state":2`},
		{name: "snake_case query aliases", method: "GET", path: q + "/tasks?page_size=5&response_view=FULL&page_token=tok",
			wantCode: 200, wantBody: `"view":"FULL"`,
			wantReq: &cloudtaskspb.ListTasksRequest{Parent: q[4:], PageSize: 5, ResponseView: cloudtaskspb.Task_FULL, PageToken: "tok"}},
		{name: "camelCase query with enum number", method: "GET", path: q + "/tasks?pageSize=6&responseView=2",
			wantCode: 200, wantBody: `"view":"FULL"`,
			wantReq: &cloudtaskspb.ListTasksRequest{Parent: q[4:], PageSize: 6, ResponseView: cloudtaskspb.Task_FULL}},
		{name: "update mask in camelCase", method: "PATCH", path: q + "?updateMask=rateLimits.maxDispatchesPerSecond,retryConfig",
			contentType: "application/json", body: `{"rateLimits":{"maxDispatchesPerSecond":7}}`, wantCode: 200,
			wantReq: &cloudtaskspb.UpdateQueueRequest{Queue: &cloudtaskspb.Queue{Name: q[4:], RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 7}},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rate_limits.max_dispatches_per_second", "retry_config"}}}},
		{name: "update mask in snake_case", method: "PATCH", path: q + "?update_mask=rate_limits.max_dispatches_per_second,retry_config,httpTarget.uri_override",
			contentType: "application/json", body: `{"rateLimits":{"maxDispatchesPerSecond":7}}`, wantCode: 200,
			wantReq: &cloudtaskspb.UpdateQueueRequest{Queue: &cloudtaskspb.Queue{Name: q[4:], RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 7}},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rate_limits.max_dispatches_per_second", "retry_config", "http_target.uri_override"}}}},
		{name: "unknown query parameter", method: "GET", path: q + "?bogus=1", wantCode: 400, wantStatus: "INVALID_ARGUMENT", wantBody: `Unknown name \"bogus\"`},
		{name: "query parameter ending in a dot (crashed vanguard)", method: "GET", path: q + "/tasks?page_token.=1", wantCode: 400, wantStatus: "INVALID_ARGUMENT",
			wantBody: `Unknown name \"page_token.\": Cannot bind query parameter.`},
		{name: "bad query escape", method: "GET", path: q + "?pageSize=%zz", wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "bad query value", method: "GET", path: q + "/tasks?pageSize=many", wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "unknown JSON field", method: "POST", path: "/v2/projects/p/locations/l/queues", contentType: "application/json",
			body: `{"name":"projects/p/locations/l/queues/q","bogus":1}`, wantCode: 400, wantStatus: "INVALID_ARGUMENT",
			wantBody: `Invalid JSON payload received. Unknown name \"bogus\" at 'queue': Cannot find field.`},
		{name: "malformed JSON", method: "POST", path: "/v2/projects/p/locations/l/queues", contentType: "application/json",
			body: `{"name":`, wantCode: 400, wantStatus: "INVALID_ARGUMENT", wantBody: "Invalid JSON payload received."},
		{name: "JSON content type with charset", method: "POST", path: "/v2/projects/p/locations/l/queues",
			contentType: "application/json; charset=UTF-8", body: `{"name":"projects/p/locations/l/queues/q2","state":"RUNNING"}`,
			wantCode: 200, wantBody: `"state":"RUNNING"`,
			wantReq: &cloudtaskspb.CreateQueueRequest{Parent: "projects/p/locations/l", Queue: &cloudtaskspb.Queue{Name: "projects/p/locations/l/queues/q2", State: cloudtaskspb.Queue_RUNNING}}},
		{name: "body repeats the path field", method: "POST", path: q + "/tasks/t:run", contentType: "application/json",
			body: `{"name":"projects/p/locations/l/queues/q/tasks/t","responseView":2}`, wantCode: 200,
			wantReq: &cloudtaskspb.RunTaskRequest{Name: q[4:] + "/tasks/t", ResponseView: cloudtaskspb.Task_FULL}},
		{name: "Empty is {}", method: "DELETE", path: q, wantCode: 200, wantBody: "{}"},
		{name: "unknown path", method: "GET", path: "/v2/nothing/here?$alt=json", wantCode: 404, wantCT: "text/html; charset=UTF-8",
			wantBody: "The requested URL <code>/v2/nothing/here?$alt=json</code> was not found on this server."},
		{name: "wrong verb", method: "PUT", path: q, wantCode: 404, wantCT: "text/html; charset=UTF-8", wantBody: "<code>" + q + "</code> was not found"},
		{name: "service error with details", method: "GET", path: "/v2/projects/p/locations/l/queues/missing", wantCode: 404,
			wantStatus: "NOT_FOUND", wantBody: `"@type":"type.googleapis.com/google.rpc.Help"`},
		{name: "FAILED_PRECONDITION is 400", method: "GET", path: "/v2/projects/p/locations/l/queues/gone", wantCode: 400, wantStatus: "FAILED_PRECONDITION"},
		{name: "unimplemented method", method: "POST", path: q + ":pause", contentType: "application/json", body: "{}", wantCode: 501, wantStatus: "UNIMPLEMENTED"},
		{name: "GET with a body", method: "GET", path: q, body: "{}", wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "body over the limit", method: "POST", path: "/v2/projects/p/locations/l/queues", contentType: "application/json",
			body: `{"name":"` + strings.Repeat("x", 4<<20) + `"}`, wantCode: 400, wantStatus: "INVALID_ARGUMENT", wantBody: "payload size exceeds the limit"},
		{name: "buffer with ID", method: "POST", path: q + "/tasks/abc:buffer?$alt=json;enum-encoding=int", contentType: "text/plain", body: "hello",
			wantCode: 200, wantBody: `{"task":{"name":"projects/p/locations/l/queues/q/tasks/abc","view":1}}`},
		{name: "buffer without ID", method: "POST", path: q + "/tasks:buffer", body: "x", wantCode: 200, wantBody: `"view":"BASIC"`},
		{name: "buffer GET is not a route", method: "GET", path: q + "/tasks:buffer", wantCode: 404, wantCT: "text/html; charset=UTF-8", wantBody: "was not found on this server"},
	}
	api, ts := startFake(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := do(t, ts.URL, c.method, c.path, c.contentType, c.body)
			checkResponse(t, resp, c.wantCode, c.wantStatus, c.wantBody)
			if c.wantCT != "" && resp.ct != c.wantCT {
				t.Fatalf("Content-Type %q, want %q", resp.ct, c.wantCT)
			}
			if c.wantReq != nil {
				if got := api.lastRequest(); !proto.Equal(got, c.wantReq) {
					t.Fatalf("service got %v, want %v", got, c.wantReq)
				}
			}
		})
	}
	if api.buf.queue != "projects/p/locations/l/queues/q" || string(api.buf.body) != "x" || api.buf.taskID != "" {
		t.Fatalf("last BufferTask call = %+v", api.buf)
	}
}

type response struct {
	code int
	ct   string
	body []byte
}

func do(t *testing.T, base, method, path, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header.Get("Content-Type"), b}
}

// checkResponse asserts the status, and for errors Google's body shape.
func checkResponse(t *testing.T, r response, wantCode int, wantStatus, wantBody string) {
	t.Helper()
	if r.code != wantCode {
		t.Fatalf("status %d, want %d; body %s", r.code, wantCode, r.body)
	}
	// protojson adds random spaces on purpose: compare compacted JSON.
	var compact bytes.Buffer
	if json.Compact(&compact, r.body) == nil {
		r.body = compact.Bytes()
	}
	if !bytes.Contains(r.body, []byte(wantBody)) {
		t.Fatalf("body %s does not contain %s", r.body, wantBody)
	}
	if wantStatus == "" {
		return
	}
	if r.ct != "application/json; charset=UTF-8" {
		t.Fatalf("Content-Type %q", r.ct)
	}
	var e struct {
		Error struct {
			Code    int
			Message string
			Status  string
			Details []map[string]any
		}
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	if e.Error.Code != wantCode || e.Error.Status != wantStatus || e.Error.Message == "" {
		t.Fatalf("error body %s, want code %d status %s", r.body, wantCode, wantStatus)
	}
}

// countingHandler counts log records with PanicMessage.
type countingHandler struct {
	slog.Handler
	panics *atomic.Int32
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == server.PanicMessage {
		h.panics.Add(1)
	}
	return nil
}

func TestPanicsBecomeInternal(t *testing.T) {
	var panics atomic.Int32
	logger := slog.New(countingHandler{slog.DiscardHandler, &panics})
	_, ts := startFake(t, server.WithLogger(logger))
	for i, path := range []string{
		"/v2/projects/p/locations/l/queues/panic",                // in the service, through the transcoder
		"/v2/projects/p/locations/l/queues/panic/tasks/t:buffer", // in BufferTask, outside gRPC
	} {
		method := "GET"
		if strings.HasSuffix(path, ":buffer") {
			method = "POST"
		}
		checkResponse(t, do(t, ts.URL, method, path, "", ""), 500, "INTERNAL", "Internal error encountered.")
		if got := panics.Load(); got != int32(i+1) {
			t.Fatalf("%d panics logged, want %d", got, i+1)
		}
	}
}

func TestWithHandler(t *testing.T) {
	_, ts := startFake(t, server.WithHandler("GET /.well-known/openid-configuration", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"issuer":"x"}`))
	})))
	checkResponse(t, do(t, ts.URL, "GET", "/.well-known/openid-configuration", "", ""), 200, "", `{"issuer":"x"}`)
}

// recordingHandler keeps every log record.
type recordingHandler struct {
	slog.Handler
	records chan slog.Record
}

func (h recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.records <- r
	return nil
}

func TestRequestsLoggedAtDebug(t *testing.T) {
	records := make(chan slog.Record, 4)
	_, ts := startFake(t, server.WithLogger(slog.New(recordingHandler{slog.DiscardHandler, records})))
	checkResponse(t, do(t, ts.URL, "GET", "/v2/projects/p/locations/l/queues/missing", "", ""), 404, "NOT_FOUND", "")
	// The RPC ends before the HTTP response does.
	wants := []map[string]string{
		{"msg": "rpc", "method": "/google.cloud.tasks.v2.CloudTasks/GetQueue", "resource": "projects/p/locations/l/queues/missing", "code": "NotFound"},
		{"msg": "request", "method": "GET", "path": "/v2/projects/p/locations/l/queues/missing", "status": "404"},
	}
	// A call routed on a message field is logged with that message's name.
	checkResponse(t, do(t, ts.URL, "PATCH", "/v2/projects/p/locations/l/queues/q2", "application/json", "{}"), 200, "", "")
	wants = append(wants,
		map[string]string{"msg": "rpc", "method": "/google.cloud.tasks.v2.CloudTasks/UpdateQueue", "resource": "projects/p/locations/l/queues/q2", "code": "OK"},
		map[string]string{"msg": "request", "method": "PATCH", "status": "200"})
	for _, want := range wants {
		r := recv(t, records, want["msg"]+" log record")
		got := map[string]string{"msg": r.Message}
		r.Attrs(func(a slog.Attr) bool { got[a.Key] = a.Value.String(); return true })
		for k, v := range want {
			if got[k] != v || r.Level != slog.LevelDebug {
				t.Fatalf("logged %v %v, want %v at debug", r.Level, got, want)
			}
		}
	}
}

// infoRecorder keeps the records a logger at info level would write.
type infoRecorder struct{ recordingHandler }

func (infoRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

// TestServerFaultsLoggedAtError: at the default level a call that failed
// on the server's side is one ERROR line naming the call, its resource and
// the fault; the caller's errors log nothing; a panic is logged once.
func TestServerFaultsLoggedAtError(t *testing.T) {
	records := make(chan slog.Record, 4)
	_, ts := startFake(t, server.WithLogger(slog.New(infoRecorder{recordingHandler{slog.DiscardHandler, records}})))
	for transport, c := range dialClients(t, ts.URL) {
		t.Run(transport, func(t *testing.T) {
			ctx := context.Background()
			_, err := c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: "projects/p/locations/l/queues/missing"})
			if err == nil || len(records) != 0 {
				t.Fatalf("missing queue: %v, %d records", err, len(records))
			}
			_, err = c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: "projects/p/locations/l/queues/broken"})
			r := recv(t, records, "the server fault's record")
			got := map[string]string{}
			r.Attrs(func(a slog.Attr) bool { got[a.Key] = a.Value.String(); return true })
			if err == nil || r.Level != slog.LevelError || r.Message != "rpc failed" || got["resource"] != "projects/p/locations/l/queues/broken" ||
				got["code"] != "Internal" || got["err"] != "getting queue: disk I/O error" || got["method"] != "/google.cloud.tasks.v2.CloudTasks/GetQueue" {
				t.Fatalf("server fault logged %v %q %v (call: %v)", r.Level, r.Message, got, err)
			}
			_, _ = c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: "projects/p/locations/l/queues/panic"})
			if r := recv(t, records, "the panic's record"); r.Message != server.PanicMessage || len(records) != 0 {
				t.Fatalf("panic logged as %q, then %d more", r.Message, len(records))
			}
		})
	}
	// BufferTask, which REST serves without the gRPC server, too.
	checkResponse(t, do(t, ts.URL, "POST", "/v2/projects/p/locations/l/queues/broken/tasks:buffer", "text/plain", "x"), 500, "INTERNAL", "")
	r := recv(t, records, "BufferTask's fault record")
	got := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { got[a.Key] = a.Value.String(); return true })
	if r.Level != slog.LevelError || got["method"] != "/google.cloud.tasks.v2.CloudTasks/BufferTask" || got["resource"] != "projects/p/locations/l/queues/broken" ||
		got["err"] != "buffering task: disk I/O error" {
		t.Fatalf("BufferTask fault logged %v %q %v", r.Level, r.Message, got)
	}
}
