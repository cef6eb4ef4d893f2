package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nodeEnv names a node_modules directory holding firebase-admin and
// @google-cloud/tasks (npm install firebase-admin @google-cloud/tasks).
const nodeEnv = "OPENTASKS_TEST_NODE_MODULES"

// needNode returns node and the modules directory, or skips the test.
func needNode(t *testing.T) (node, modules string) {
	t.Helper()
	modules = os.Getenv(nodeEnv)
	if modules == "" {
		t.Skip("Node client tests skipped: set " + nodeEnv + " to a node_modules directory with firebase-admin and @google-cloud/tasks")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("Node client tests skipped: no node on PATH")
	}
	return node, modules
}

// runNode runs testdata/node/SCRIPT with env and returns the JSON it
// prints last.
func runNode(t *testing.T, script string, env ...string) map[string]any {
	t.Helper()
	node, modules := needNode(t)
	abs, err := filepath.Abs(filepath.Join("testdata", "node", script))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, abs)
	cmd.Env = append([]string{"NODE_PATH=" + modules, "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node %s: %v\n%s%s", script, err, out, stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var res map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("node %s printed %q", script, out)
	}
	return res
}

// freePort is a loopback port nothing listens on, for the script's
// stand-in function.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestNodeClients runs the real Node SDKs against OpenTasks:
// firebase-admin's task queue (enqueue with an id, a duplicate, delete
// twice, delivery to the function), and @google-cloud/tasks in REST mode
// (GetLocation and ListLocations at /v1, CreateQueue, CreateTask).
func TestNodeClients(t *testing.T) {
	needNode(t)
	fnPort := freePort(t)
	queues := writeFile(t, "queues.yaml", `- name: projects/demo/locations/us-central1/queues/resize
  httpTarget:
    uriOverride: {scheme: HTTP, host: 127.0.0.1, port: "`+fnPort+`", pathOverride: {path: /demo/us-central1/resize}}
`)
	ep := startServe(t, "--store", "sqlite:"+filepath.Join(t.TempDir(), "db"), "--queues", queues)
	host := strings.TrimPrefix(ep, "http://")

	fb := runNode(t, "firebase.js", "CLOUD_TASKS_EMULATOR_HOST="+host, "FN_PORT="+fnPort)
	want := map[string]any{
		"duplicate": "functions/task-already-exists", "method": http.MethodPost, "path": "/demo/us-central1/resize",
		"contentType": "application/json", "body": `{"data":{"image":"a.png"}}`, "queue": "resize", "task": "fb-1",
		"email": "fn@demo.iam.gserviceaccount.com",
	}
	for k, v := range want {
		if fb[k] != v {
			t.Errorf("firebase-admin: %s = %v, want %v", k, fb[k], v)
		}
	}

	_, port, _ := net.SplitHostPort(host)
	rest := runNode(t, "rest.js", "OPENTASKS_PORT="+port)
	if rest["location"] != "us-central1" || rest["locations"] != float64(4) || rest["queueState"] != "RUNNING" ||
		rest["taskMethod"] != "PUT" || rest["taskBody"] != "hi" {
		t.Errorf("@google-cloud/tasks REST: %v", rest)
	}
}
