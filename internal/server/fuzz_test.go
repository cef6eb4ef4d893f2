package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opentasks/opentasks/internal/cloudtasks"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/store/sqlite"
)

// fuzzSeeds are real REST calls, as the Go REST client and curl send them.
var fuzzSeeds = []struct{ method, path, query, contentType, body string }{
	{"POST", "/v2/projects/p/locations/us-central1/queues", "$alt=json;enum-encoding=int", "application/json",
		`{"name":"projects/p/locations/us-central1/queues/q","rateLimits":{"maxDispatchesPerSecond":5},"retryConfig":{"minBackoff":"0.5s"},
		  "httpTarget":{"uriOverride":{"host":"example.com","port":"8080"},"httpMethod":1}}`},
	{"GET", "/v2/projects/p/locations/us-central1/queues/q", "", "", ""},
	{"GET", "/v2/projects/p/locations/us-central1/queues", "filter=state%3DRUNNING&pageSize=2&page_token=", "", ""},
	{"PATCH", "/v2/projects/p/locations/us-central1/queues/q", "updateMask=rateLimits.maxDispatchesPerSecond,retryConfig", "application/json",
		`{"name":"projects/p/locations/us-central1/queues/q","rateLimits":{"maxDispatchesPerSecond":7}}`},
	{"POST", "/v2/projects/p/locations/us-central1/queues/q/tasks", "%24alt=json%3Benum-encoding%3Dint", "application/json",
		`{"parent":"projects/p/locations/us-central1/queues/q","task":{"name":"projects/p/locations/us-central1/queues/q/tasks/t1",
		  "httpRequest":{"url":"https://example.com/x","httpMethod":"PUT","headers":{"X-A":"b"},"body":"aGVsbG8="},
		  "dispatchDeadline":"30s"},"responseView":2}`},
	{"GET", "/v2/projects/p/locations/us-central1/queues/q/tasks/t1", "responseView=FULL", "", ""},
	{"GET", "/v2/projects/p/locations/us-central1/queues/q/tasks", "response_view=2&pageSize=1", "", ""},
	{"POST", "/v2/projects/p/locations/us-central1/queues/q/tasks/t1:run", "", "application/json", `{"name":"projects/p/locations/us-central1/queues/q/tasks/t1","responseView":1}`},
	{"DELETE", "/v2/projects/p/locations/us-central1/queues/q/tasks/t1", "", "", ""},
	{"POST", "/v2/projects/p/locations/us-central1/queues/q/tasks:batchCreate", "", "application/json",
		`{"requests":[{"parent":"projects/p/locations/us-central1/queues/q","task":{"httpRequest":{"url":"http://h/"}}}],"requestId":"0f8fad5b-d9cb-469f-a165-70867728950e"}`},
	{"POST", "/v2/projects/p/locations/us-central1/queues/q/tasks:batchDelete", "", "application/json", `{"names":["projects/p/locations/us-central1/queues/q/tasks/zz"]}`},
	{"GET", "/v2/projects/p/locations/us-central1/operations/op1", "", "", ""},
	{"POST", "/v2/projects/p/locations/us-central1/queues/q/tasks/b1:buffer", "", "text/plain", "raw payload"},
	{"POST", "/v2/projects/p/locations/us-central1/queues/q/tasks:buffer", "", "application/json", `{"a":1}`},
	{"POST", "/v2/projects/p/locations/us-central1/queues/q:pause", "", "application/json", "{}"},
	{"POST", "/v2/projects/p/locations/us-central1/queues/q:resume", "", "application/json", "{}"},
	{"POST", "/v2/projects/p/locations/us-central1/queues/q:purge", "", "application/json", "{}"},
	{"POST", "/v2/projects/p/locations/us-central1/queues/q:getIamPolicy", "", "application/json", `{"options":{"requestedPolicyVersion":3}}`},
	{"POST", "/v2/projects/p/locations/us-central1/queues/q:setIamPolicy", "", "application/json",
		`{"policy":{"bindings":[{"role":"roles/viewer","members":["user:a@b.c"]}],"etag":"QUNBQg=="}}`},
	{"POST", "/v2/projects/p/locations/us-central1/queues/q:testIamPermissions", "", "application/json", `{"permissions":["cloudtasks.tasks.create"]}`},
	{"GET", "/v2/projects/p/locations/us-central1/cmekConfig", "", "", ""},
	{"PATCH", "/v2/projects/p/locations/us-central1/cmekConfig", "update_mask=kmsKey", "application/json", `{"kmsKey":""}`},
	{"GET", "/v2/projects/p/locations", "pageSize=1", "", ""},
	{"GET", "/v2/projects/p/locations/us-central1", "", "", ""},
	{"DELETE", "/v2/projects/p/locations/us-central1/queues/q", "", "", ""},
	{"GET", "/healthz", "", "", ""},
}

// FuzzREST feeds arbitrary REST requests to the handler over a real
// service and SQLite store: no input may reach a panic, and every answer
// is either 2xx JSON, Google's error body with a matching status, or
// Google's 404 page for a request that matches no route.
//
//	go test ./internal/server -run '^$' -fuzz FuzzREST -fuzztime 5m -parallel 1
func FuzzREST(f *testing.F) {
	st, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	var panics atomic.Int32
	h := server.New(cloudtasks.New(st, cloudtasks.Config{}),
		server.WithLogger(slog.New(countingHandler{slog.DiscardHandler, &panics})))

	for _, s := range fuzzSeeds {
		f.Add(s.method, s.path, s.query, s.contentType, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, path, query, contentType string, body []byte) {
		req, err := http.NewRequestWithContext(context.Background(), method, "http://opentasks/", bytes.NewReader(body))
		if err != nil {
			return // not a method net/http would hand to a handler
		}
		req.URL.Path = "/" + strings.TrimPrefix(path, "/")
		req.URL.RawQuery = query
		req.RequestURI = req.URL.RequestURI()
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if n := panics.Load(); n != 0 {
			t.Fatalf("%d panic(s) recovered serving %s %s?%s", n, method, req.URL.Path, query)
		}
		checkFuzzResponse(t, req, rec)
	})
}

func checkFuzzResponse(t *testing.T, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	code, body := rec.Code, rec.Body.Bytes()
	where := req.Method + " " + req.URL.RequestURI()
	if code/100 == 2 {
		if req.URL.Path == "/healthz" || (req.Method == http.MethodHead && len(body) == 0) {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("%s: %d with a body that is not JSON: %q", where, code, body)
		}
		return
	}
	if code == http.StatusNotFound && rec.Header().Get("Content-Type") == "text/html; charset=UTF-8" {
		// Google's front end's page for a request that matches no route.
		if !bytes.Contains(body, []byte("</code> was not found on this server.")) {
			t.Fatalf("%s: 404 page %q", where, body)
		}
		return
	}
	var e struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil {
		t.Fatalf("%s: %d with a body that is not Google's error: %q", where, code, body)
	}
	if e.Error.Code != code || e.Error.Status == "" || rec.Header().Get("Content-Type") != "application/json; charset=UTF-8" {
		t.Fatalf("%s: %d with error body %q, Content-Type %q", where, code, body, rec.Header().Get("Content-Type"))
	}
	if e.Error.Status == "INTERNAL" || e.Error.Status == "UNKNOWN" {
		t.Fatalf("%s: server fault on client input: %q", where, body)
	}
}
