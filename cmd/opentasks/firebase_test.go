package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rawCall sends a raw HTTP request as the SDKs do and returns the status and
// body.
func rawCall(t *testing.T, method, url, body string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type delivered struct {
	r    *http.Request
	body string
}

// TestFirebaseAdmin: the calls firebase-admin (Node >= 12.4 and Python
// >= 7.2) makes with CLOUD_TASKS_EMULATOR_HOST, with the bodies they
// send, create tasks that reach the function the queue's uriOverride
// names, with the {"data": ...} body and an OIDC token; delete, duplicate
// and missing-queue answers are the ones the SDKs map.
func TestFirebaseAdmin(t *testing.T) {
	got := make(chan delivered, 4)
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivered{r, string(b)}
		w.WriteHeader(http.StatusNoContent) // what a task-queue function answers
	}))
	defer fn.Close()
	host := strings.TrimPrefix(fn.URL, "http://")
	h, port, _ := strings.Cut(host, ":")
	queues := filepath.Join(t.TempDir(), "queues.yaml")
	if err := os.WriteFile(queues, []byte(`- name: projects/demo/locations/us-central1/queues/resize
  httpTarget:
    uriOverride: {scheme: HTTP, host: "`+h+`", port: "`+port+`", pathOverride: {path: /demo/us-central1/resize}}
- name: projects/demo/locations/us-central1/queues/nourl
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ep := startServe(t, "--store", "sqlite:"+filepath.Join(t.TempDir(), "db"), "--queues", queues)
	base := ep + "/projects/demo/locations/us-central1/queues/resize/tasks"
	data := base64.StdEncoding.EncodeToString([]byte(`{"data":{"image":"a.png","n":1}}`))

	// firebase-admin-node: validateTaskOptions + updateTaskPayload with an
	// id and a delay; it sends "Bearer owner".
	schedule := time.Now().Add(-time.Second).UTC().Format("2006-01-02T15:04:05.000Z")
	nodeBody := `{"task":{"httpRequest":{"url":"","oidcToken":{"serviceAccountEmail":"emulated-service-acct@email.com"},` +
		`"body":"` + data + `","headers":{"Content-Type":"application/json","X-Extra":"1"}},` +
		`"scheduleTime":"` + schedule + `","dispatchDeadline":"30s","name":"projects/demo/locations/us-central1/queues/resize/tasks/node-1"}}`
	nodeHeaders := map[string]string{"Authorization": "Bearer owner", "X-Firebase-Client": "fire-admin-node/13.10.0", "Content-Type": "application/json"}
	code, body := rawCall(t, http.MethodPost, base, nodeBody, nodeHeaders)
	var answer struct {
		Task struct{ Name string }
	}
	if err := json.Unmarshal([]byte(body), &answer); code != 200 || err != nil ||
		answer.Task.Name != "/projects/demo/locations/us-central1/queues/resize/tasks/node-1" {
		t.Fatalf("Node enqueue: %d %s", code, body)
	}
	select {
	case d := <-got:
		claims := jwtClaims(t, strings.TrimPrefix(d.r.Header.Get("Authorization"), "Bearer "))
		if d.r.Method != http.MethodPost || d.r.URL.Path != "/demo/us-central1/resize" || d.body != `{"data":{"image":"a.png","n":1}}` ||
			d.r.Header.Get("Content-Type") != "application/json" || d.r.Header.Get("X-Extra") != "1" ||
			d.r.Header.Get("X-CloudTasks-QueueName") != "resize" || d.r.Header.Get("X-CloudTasks-TaskName") != "node-1" ||
			claims["email"] != "emulated-service-acct@email.com" {
			t.Errorf("delivered %s %s %q %v claims %v", d.r.Method, d.r.URL, d.body, d.r.Header, claims)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the Node task was not delivered")
	}

	// The same id again: 409 ALREADY_EXISTS (Node: task-already-exists).
	code, body = rawCall(t, http.MethodPost, base, nodeBody, nodeHeaders)
	if code != http.StatusConflict || !strings.Contains(body, `"status":"ALREADY_EXISTS"`) {
		t.Errorf("duplicate: %d %s", code, body)
	}

	// firebase-admin-python: to_api_dict() sends unset fields as null, no
	// id; it reads task.name and drops its first character.
	later := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000000Z")
	pyBody := `{"task":{"httpRequest":{"url":"","oidcToken":{"serviceAccountEmail":"emulated-service-acct@email.com"},` +
		`"body":"` + base64.StdEncoding.EncodeToString([]byte(`{"n": 2}`)) + `","headers":{"Content-Type":"application/json"}},` +
		`"name":null,"scheduleTime":"` + later + `","dispatchDeadline":null}}`
	code, body = rawCall(t, http.MethodPost, base, pyBody, map[string]string{"Authorization": "Bearer owner", "X-GOOG-API-FORMAT-VERSION": "2", "Content-Type": "application/json"})
	if err := json.Unmarshal([]byte(body), &answer); code != 200 || err != nil ||
		!strings.HasPrefix(answer.Task.Name[1:], "projects/demo/locations/us-central1/queues/resize/tasks/") {
		t.Fatalf("Python enqueue: %d %s", code, body)
	}
	id := answer.Task.Name[strings.LastIndex(answer.Task.Name, "/")+1:]
	code, body = rawCall(t, http.MethodDelete, base+"/"+id, "", map[string]string{"Authorization": "Bearer owner"})
	if code != 200 || strings.TrimSpace(body) != "{}" {
		t.Errorf("delete: %d %s", code, body)
	}
	if code, body = rawCall(t, http.MethodDelete, base+"/"+id, "", nil); code != http.StatusNotFound || !strings.Contains(body, `"status":"NOT_FOUND"`) {
		t.Errorf("delete again (both SDKs ignore a 404): %d %s", code, body)
	}

	// Errors in Google's JSON shape: a missing queue, and a queue with no
	// uriOverride for a task without a url.
	code, body = rawCall(t, http.MethodPost, ep+"/projects/demo/locations/us-central1/queues/missing/tasks", nodeBody, nil)
	if code != http.StatusNotFound || !strings.Contains(body, `"status":"NOT_FOUND"`) {
		t.Errorf("missing queue: %d %s", code, body)
	}
	code, body = rawCall(t, http.MethodPost, ep+"/projects/demo/locations/us-central1/queues/nourl/tasks", pyBody, nil)
	if code != http.StatusBadRequest || !strings.Contains(body, "httpTarget.uriOverride") || !strings.Contains(body, `"status":"INVALID_ARGUMENT"`) {
		t.Errorf("queue without uriOverride: %d %s", code, body)
	}
	// A task with its own url goes there, and /v2 is untouched.
	code, body = rawCall(t, http.MethodPost, ep+"/v2/projects/demo/locations/us-central1/queues/nourl/tasks", pyBody, nil)
	if code != http.StatusBadRequest || !strings.Contains(body, `"message":"HttpRequest.url is required."`) {
		t.Errorf("/v2 with an empty url: %d %s", code, body)
	}
}

// jwtClaims decodes a JWT's claims without verifying it, as a Firebase
// function does.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// TestOtherClientsPaths: Node's REST fallback asks GetLocation and
// ListLocations at /v1; Python's REST transport sends enums as numbers
// ($alt=json;enum-encoding=int), query parameters in camelCase, and
// bodies with enum numbers.
func TestOtherClientsPaths(t *testing.T) {
	ep := startServe(t, "--store", "sqlite:"+filepath.Join(t.TempDir(), "db"))
	code, body := rawCall(t, http.MethodGet, ep+"/v1/projects/p/locations/us-central1", "", nil)
	if code != 200 || !strings.Contains(body, `"name":"projects/p/locations/us-central1"`) || !strings.Contains(body, `"locationId":"us-central1"`) {
		t.Errorf("/v1 GetLocation: %d %s", code, body)
	}
	code, body = rawCall(t, http.MethodGet, ep+"/v1/projects/p/locations", "", nil)
	if code != 200 || !strings.Contains(body, `"locationId":"europe-west1"`) {
		t.Errorf("/v1 ListLocations: %d %s", code, body)
	}

	alt := "%24alt=json%3Benum-encoding%3Dint"
	jsonCT := map[string]string{"Content-Type": "application/json"}
	code, body = rawCall(t, http.MethodPost, ep+"/v2/projects/p/locations/us-central1/queues?"+alt,
		`{"name":"projects/p/locations/us-central1/queues/py","rateLimits":{"maxDispatchesPerSecond":3.0},"state":0}`, jsonCT)
	if code != 200 || !strings.Contains(body, `"state":1`) {
		t.Fatalf("Python CreateQueue: %d %s", code, body)
	}
	code, body = rawCall(t, http.MethodPatch, ep+"/v2/projects/p/locations/us-central1/queues/py?updateMask=rateLimits.maxDispatchesPerSecond&"+alt,
		`{"name":"projects/p/locations/us-central1/queues/py","rateLimits":{"maxDispatchesPerSecond":4.0}}`, jsonCT)
	if code != 200 || !strings.Contains(body, `"maxDispatchesPerSecond":4`) {
		t.Errorf("Python UpdateQueue: %d %s", code, body)
	}
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	code, body = rawCall(t, http.MethodPost, ep+"/v2/projects/p/locations/us-central1/queues/py/tasks?"+alt,
		`{"task":{"name":"projects/p/locations/us-central1/queues/py/tasks/t","scheduleTime":"`+later+`","httpRequest":{"url":"http://127.0.0.1:1/","httpMethod":4,"body":"aGk="}},"responseView":2}`, jsonCT)
	if code != 200 || !strings.Contains(body, `"httpMethod":4`) || !strings.Contains(body, `"body":"aGk="`) {
		t.Errorf("Python CreateTask: %d %s", code, body)
	}
	code, body = rawCall(t, http.MethodGet, ep+"/v2/projects/p/locations/us-central1/queues/py/tasks/t?responseView=2&"+alt, "", nil)
	if code != 200 || !strings.Contains(body, `"view":2`) {
		t.Errorf("Python GetTask: %d %s", code, body)
	}
	code, body = rawCall(t, http.MethodGet, ep+"/v2/projects/p/locations/us-central1/queues/py/tasks?responseView=1&pageSize=5&"+alt, "", nil)
	if code != 200 || !strings.Contains(body, `"view":1`) {
		t.Errorf("Python ListTasks: %d %s", code, body)
	}
}
