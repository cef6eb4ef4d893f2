package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/encoding/protojson"
)

// cliRun runs `opentasks ARGS` against endpoint and returns its exit code,
// stdout and stderr.
func cliRun(t *testing.T, endpoint string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	code := run(context.Background(), args, &stdout, &stderr, []string{"OPENTASKS_ENDPOINT=" + endpoint, "OPENTASKS_PROJECT=p"})
	return code, stdout.String(), stderr.String()
}

// cliOK runs a command that must succeed.
func cliOK(t *testing.T, endpoint string, args ...string) (string, string) {
	t.Helper()
	code, out, errOut := cliRun(t, endpoint, args...)
	if code != 0 {
		t.Fatalf("opentasks %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out, errOut
}

func parseQueue(t *testing.T, s string) *cloudtaskspb.Queue {
	t.Helper()
	q := &cloudtaskspb.Queue{}
	if err := protojson.Unmarshal([]byte(s), q); err != nil {
		t.Fatalf("output is not a Queue: %v\n%s", err, s)
	}
	return q
}

func parseTask(t *testing.T, s string) *cloudtaskspb.Task {
	t.Helper()
	task := &cloudtaskspb.Task{}
	if err := protojson.Unmarshal([]byte(s), task); err != nil {
		t.Fatalf("output is not a Task: %v\n%s", err, s)
	}
	return task
}

// TestCLIQueues: every queues verb against a real server.
func TestCLIQueues(t *testing.T) {
	ep := startServe(t, "--store", "sqlite:"+filepath.Join(t.TempDir(), "db"))

	out, errOut := cliOK(t, ep, "queues", "create", "q1", "--format", "json",
		"--max-attempts", "5", "--max-retry-duration", "1h", "--min-backoff", "1s", "--max-backoff", "10s",
		"--max-doublings", "3", "--max-dispatches-per-second", "10", "--max-concurrent-dispatches", "7",
		"--routing-override", "service:s,version:v", "--log-sampling-ratio", "0.5",
		"--http-uri-override", "scheme:http,host:h.local,port:9,path:/p,mode:ALWAYS", "--http-method-override", "put",
		"--http-header-override", "X-A: b", "--http-oidc-service-account-email-override", "sa@x.iam.gserviceaccount.com",
		"--http-oidc-token-audience-override", "aud")
	if errOut != "Created queue [us-central1/q1].\n" {
		t.Errorf("create stderr %q", errOut)
	}
	q := parseQueue(t, out)
	rc, rl, ht := q.RetryConfig, q.RateLimits, q.HttpTarget
	if q.Name != "projects/p/locations/us-central1/queues/q1" || rc.MaxAttempts != 5 || rc.MaxRetryDuration.AsDuration() != time.Hour ||
		rc.MinBackoff.AsDuration() != time.Second || rc.MaxBackoff.AsDuration() != 10*time.Second || rc.MaxDoublings != 3 ||
		rl.MaxDispatchesPerSecond != 10 || rl.MaxConcurrentDispatches != 7 ||
		q.AppEngineRoutingOverride.GetService() != "s" || q.AppEngineRoutingOverride.GetVersion() != "v" ||
		q.StackdriverLoggingConfig.GetSamplingRatio() != 0.5 ||
		ht.GetUriOverride().GetHost() != "h.local" || ht.GetUriOverride().GetPort() != 9 || ht.GetUriOverride().GetPathOverride().GetPath() != "/p" ||
		ht.GetUriOverride().GetScheme() != cloudtaskspb.UriOverride_HTTP || ht.GetUriOverride().GetUriOverrideEnforceMode() != cloudtaskspb.UriOverride_ALWAYS ||
		ht.GetHttpMethod() != cloudtaskspb.HttpMethod_PUT || ht.GetHeaderOverrides()[0].GetHeader().GetValue() != "b" ||
		ht.GetOidcToken().GetAudience() != "aud" || ht.GetOidcToken().GetServiceAccountEmail() != "sa@x.iam.gserviceaccount.com" {
		t.Errorf("created queue %v", q)
	}

	out, _ = cliOK(t, ep, "queues", "describe", "q1", "--format", "json")
	if d := parseQueue(t, out); d.RetryConfig.MaxAttempts != 5 || d.State != cloudtaskspb.Queue_RUNNING {
		t.Errorf("describe --format json: %v", d)
	}
	out, _ = cliOK(t, ep, "queues", "describe", "projects/p/locations/us-central1/queues/q1")
	for _, want := range []string{"name: projects/p/locations/us-central1/queues/q1\n", "rateLimits:\n", "  maxDispatchesPerSecond: 10\n", "state: RUNNING\n", "  minBackoff: 1s\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe YAML lacks %q:\n%s", want, out)
		}
	}

	_, errOut = cliOK(t, ep, "queues", "update", "q1", "--max-attempts", "unlimited", "--clear-max-doublings", "--clear-http-uri-override")
	if !strings.HasSuffix(errOut, "Updated queue [q1].\n") || !strings.HasPrefix(errOut, "WARNING: ") {
		t.Errorf("update stderr %q", errOut)
	}
	out, _ = cliOK(t, ep, "queues", "describe", "q1", "--format", "json")
	if d := parseQueue(t, out); d.RetryConfig.MaxAttempts != -1 || d.RetryConfig.MaxDoublings != 16 || d.RetryConfig.MaxBackoff.AsDuration() != 10*time.Second ||
		d.HttpTarget.GetUriOverride() != nil || d.HttpTarget.GetHttpMethod() != cloudtaskspb.HttpMethod_PUT {
		t.Errorf("after update: %v", d)
	}
	if code, _, errOut := cliRun(t, ep, "queues", "update", "q1"); code != 2 || !strings.Contains(errOut, "Must specify at least one field to update.") {
		t.Errorf("update without fields: exit %d, %q", code, errOut)
	}

	cliOK(t, ep, "queues", "create", "q2", "--location", "us-central1")
	out, _ = cliOK(t, ep, "queues", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "QUEUE_NAME  STATE    MAX_NUM_OF_TASKS  MAX_RATE (/sec)  MAX_ATTEMPTS") ||
		strings.Join(strings.Fields(lines[1]), " ") != "q1 RUNNING 7 10 unlimited" || strings.Join(strings.Fields(lines[2]), " ") != "q2 RUNNING 1000 500 100" {
		t.Errorf("list table:\n%s", out)
	}
	out, _ = cliOK(t, ep, "queues", "list", "--format", "json", "--limit", "1")
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(out), &items); err != nil || len(items) != 1 || parseQueue(t, string(items[0])).Name != q.Name {
		t.Errorf("list --format json --limit 1: %v\n%s", err, out)
	}
	out, _ = cliOK(t, ep, "queues", "list", "--sort-by", "~name", "--uri")
	if out != ep+"/v2/projects/p/locations/us-central1/queues/q2\n"+ep+"/v2/projects/p/locations/us-central1/queues/q1\n" {
		t.Errorf("list --sort-by ~name --uri:\n%s", out)
	}
	out, _ = cliOK(t, ep, "queues", "list", "--sort-by", "~rateLimits.maxDispatchesPerSecond", "--limit", "1", "--format", "json")
	if err := json.Unmarshal([]byte(out), &items); err != nil || len(items) != 1 || parseQueue(t, string(items[0])).Name != "projects/p/locations/us-central1/queues/q2" {
		t.Errorf("list --sort-by ~rate --limit 1: %v\n%s", err, out)
	}
	if _, errOut := cliOK(t, ep, "queues", "list", "--location", "europe-west1"); errOut != "Listed 0 items.\n" {
		t.Errorf("empty list stderr %q", errOut)
	}

	out, errOut = cliOK(t, ep, "queues", "pause", "q2", "--format", "json")
	if parseQueue(t, out).State != cloudtaskspb.Queue_PAUSED || !strings.HasSuffix(errOut, "Paused queue [q2].\n") {
		t.Errorf("pause: %s %s", out, errOut)
	}
	out, errOut = cliOK(t, ep, "queues", "resume", "q2", "--format", "json")
	if parseQueue(t, out).State != cloudtaskspb.Queue_RUNNING || !strings.HasSuffix(errOut, "Resumed queue [q2].\n") {
		t.Errorf("resume: %s %s", out, errOut)
	}
	out, errOut = cliOK(t, ep, "queues", "purge", "q2", "--quiet", "--format", "json")
	if parseQueue(t, out).PurgeTime == nil || errOut != "Purged queue [q2].\n" {
		t.Errorf("purge: %s %s", out, errOut)
	}
	_, errOut = cliOK(t, ep, "queues", "delete", "q2", "-q")
	if !strings.HasSuffix(errOut, "Deleted queue [q2].\n") {
		t.Errorf("delete: %q", errOut)
	}
	code, _, errOut := cliRun(t, ep, "queues", "describe", "q2")
	if code != 1 || !strings.HasPrefix(errOut, "ERROR: (opentasks.queues.describe) NOT_FOUND: Queue does not exist.") {
		t.Errorf("describe a deleted queue: exit %d, %q", code, errOut)
	}
	code, _, errOut = cliRun(t, ep, "queues", "create", "q1")
	if code != 1 || !strings.HasPrefix(errOut, "ERROR: (opentasks.queues.create) ALREADY_EXISTS: ") {
		t.Errorf("create twice: exit %d, %q", code, errOut)
	}
	code, _, errOut = cliRun(t, ep, "queues", "list", "--bogus=1")
	if code != 2 || errOut != "ERROR: (opentasks.queues.list) unrecognized arguments: --bogus=1\n" {
		t.Errorf("unknown flag: exit %d, %q", code, errOut)
	}
	code, _, errOut = cliRun(t, ep, "queues", "frob")
	if code != 2 || !strings.Contains(errOut, "Invalid choice: 'frob'.") {
		t.Errorf("unknown verb: exit %d, %q", code, errOut)
	}
}

// TestCLITasks: every tasks verb against a real server, and a task
// created with the CLI delivered to a real target.
func TestCLITasks(t *testing.T) {
	got := make(chan *http.Request, 4)
	bodies := make(chan string, 4)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- string(b)
	}))
	defer target.Close()
	ep := startServe(t, "--store", "sqlite:"+filepath.Join(t.TempDir(), "db"))
	cliOK(t, ep, "queues", "create", "q")
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)

	out, errOut := cliOK(t, ep, "tasks", "create-http-task", "t1", "--queue", "q", "--url", target.URL+"/hook",
		"--method", "PUT", "--header", "X-K: v", "--body-content", "hello", "--schedule-time", later, "--format", "json",
		"--oidc-service-account-email", "sa@p.iam.gserviceaccount.com", "--oidc-token-audience", "aud")
	task := parseTask(t, out)
	full := "projects/p/locations/us-central1/queues/q/tasks/t1"
	if task.Name != full || errOut != "Created task ["+full+"].\n" || task.ScheduleTime.AsTime().Format(time.RFC3339) != later {
		t.Errorf("create-http-task: %v %q", task, errOut)
	}
	out, _ = cliOK(t, ep, "tasks", "describe", "t1", "--queue", "q", "--response-view", "full", "--format", "json")
	hr := parseTask(t, out).GetHttpRequest()
	if hr.GetUrl() != target.URL+"/hook" || hr.GetHttpMethod() != cloudtaskspb.HttpMethod_PUT || hr.GetHeaders()["X-K"] != "v" ||
		string(hr.GetBody()) != "hello" || hr.GetOidcToken().GetAudience() != "aud" {
		t.Errorf("describe --response-view full: %v", hr)
	}

	out, _ = cliOK(t, ep, "tasks", "create-app-engine-task", "--queue", "q", "--relative-uri", "/work?x=1",
		"--routing", "service:worker", "--schedule-time", later, "--format", "json", "--body-file", writeFile(t, "body.txt", "from a file"))
	ae := parseTask(t, out)
	if r := ae.GetAppEngineHttpRequest(); r.GetRelativeUri() != "/work?x=1" || r.GetAppEngineRouting().GetService() != "worker" {
		t.Errorf("create-app-engine-task: %v", ae)
	}
	out, _ = cliOK(t, ep, "tasks", "describe", ae.Name, "--response-view", "full", "--format", "json")
	if string(parseTask(t, out).GetAppEngineHttpRequest().GetBody()) != "from a file" {
		t.Errorf("--body-file not sent: %s", out)
	}

	out, _ = cliOK(t, ep, "tasks", "list", "--queue", "q")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "TASK_NAME TYPE CREATE_TIME SCHEDULE_TIME DISPATCH_ATTEMPTS RESPONSE_ATTEMPTS LAST_ATTEMPT_STATUS" {
		t.Fatalf("tasks list:\n%s", out)
	}
	if f := strings.Fields(lines[2]); f[0] != "t1" || f[1] != "http" || f[3] != later || f[4] != "0" || f[6] != "Unknown" {
		t.Errorf("t1's row %q", lines[2])
	}
	out, _ = cliOK(t, ep, "tasks", "list", "--queue", "q", "--format", "json")
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(out), &items); err != nil || len(items) != 2 {
		t.Errorf("tasks list --format json: %v\n%s", err, out)
	}

	out, _ = cliOK(t, ep, "tasks", "run", "t1", "--queue", "q")
	if !strings.Contains(out, "dispatchCount: 1\n") {
		t.Errorf("run YAML:\n%s", out)
	}
	select {
	case r := <-got:
		if r.Method != http.MethodPut || r.URL.Path != "/hook" || r.Header.Get("X-K") != "v" || <-bodies != "hello" ||
			r.Header.Get("X-CloudTasks-TaskName") != "t1" || !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			t.Errorf("delivered %s %s %v", r.Method, r.URL, r.Header)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tasks run: nothing delivered")
	}

	_, errOut = cliOK(t, ep, "tasks", "delete", queueIDOf(ae.Name), "--queue", "q")
	if errOut != "Deleted task ["+queueIDOf(ae.Name)+"].\n" {
		t.Errorf("delete stderr %q", errOut)
	}
	code, _, errOut := cliRun(t, ep, "tasks", "describe", queueIDOf(ae.Name), "--queue", "q")
	if code != 1 || !strings.HasPrefix(errOut, "ERROR: (opentasks.tasks.describe) NOT_FOUND: ") {
		t.Errorf("describe a deleted task: exit %d, %q", code, errOut)
	}
	for _, bad := range [][]string{
		{"tasks", "list"},
		{"tasks", "create-http-task", "--queue", "q"},
		{"tasks", "describe", "t1"},
		{"tasks", "create-http-task", "--queue", "q", "--url", "http://x/", "--schedule-time", "tomorrow"},
	} {
		if code, _, errOut := cliRun(t, ep, bad...); code != 2 || !strings.HasPrefix(errOut, "ERROR: (opentasks.tasks.") {
			t.Errorf("%v: exit %d, %q", bad, code, errOut)
		}
	}
}

func queueIDOf(name string) string { return name[strings.LastIndex(name, "/")+1:] }

// TestHealthcheckAndVersion: healthcheck against a live server and a dead
// port; version prints its three lines.
func TestHealthcheckAndVersion(t *testing.T) {
	ep := startServe(t, "--store", "sqlite:"+filepath.Join(t.TempDir(), "db"))
	if out, _ := cliOK(t, ep, "healthcheck"); out != "ok\n" {
		t.Errorf("healthcheck stdout %q", out)
	}
	// In a container only OPENTASKS_ADDR is set, on every interface.
	var stdout strings.Builder
	addr := "0.0.0.0:" + ep[strings.LastIndex(ep, ":")+1:]
	if code := run(context.Background(), []string{"healthcheck"}, &stdout, io.Discard, []string{"OPENTASKS_ADDR=" + addr}); code != 0 || stdout.String() != "ok\n" {
		t.Errorf("healthcheck with OPENTASKS_ADDR=%s: exit %d, %q", addr, code, stdout.String())
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if code, _, errOut := cliRun(t, dead.URL, "healthcheck"); code != 1 || !strings.HasPrefix(errOut, "ERROR: (opentasks.healthcheck) not healthy: ") {
		t.Errorf("healthcheck of a closed port: exit %d, %q", code, errOut)
	}
	out, _ := cliOK(t, ep, "version")
	if lines := strings.Split(out, "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "opentasks ") || !strings.HasPrefix(lines[1], "commit ") || !strings.HasPrefix(lines[2], "go1.") {
		t.Errorf("version:\n%s", out)
	}
}
