package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeWorkflowsDir: serve deploys the folder before it serves, under
// --workflows-parent, and logs a bad file as FILE:LINE without stopping.
func TestServeWorkflowsDir(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"Hello.yaml": "main:\n  steps:\n    - done:\n        return: hi\n",
		"bad.yaml":   "main:\n  steps:\n    - first:\n        call: no.such.function\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var log lockedBuffer
	base := serveWith(t, &log, nil, "--store", "sqlite:"+filepath.Join(t.TempDir(), "db"),
		"--workflows-dir", dir, "--workflows-parent", "projects/dev/locations/europe-west1")
	resp, err := http.Get(base + "/v1/projects/dev/locations/europe-west1/workflows/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var wf struct{ RevisionID, SourceContents string }
	if err := json.Unmarshal(body, &wf); err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(wf.SourceContents, "return: hi") {
		t.Fatalf("GET the folder's workflow: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(base + "/console/workflows")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `href="/console/projects/dev/locations/europe-west1/workflows/hello"`) {
		t.Errorf("the console's Workflows page lacks the folder's workflow:\n%s", body)
	}
	if want := filepath.Join(dir, "bad.yaml") + ":3: not deployed"; !strings.Contains(log.String(), want) {
		t.Fatalf("log lacks %q:\n%s", want, log.String())
	}
}

// TestServeWorkflowsDirFlags: a missing folder or a malformed parent stops
// serve at once with the flag named.
func TestServeWorkflowsDirFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--workflows-dir", filepath.Join(t.TempDir(), "missing")},
		{"--workflows-dir", t.TempDir(), "--workflows-parent", "projects/p"},
	} {
		var stderr strings.Builder
		if code := run(t.Context(), append([]string{"serve"}, args...), io.Discard, &stderr, nil); code != 2 || !strings.Contains(stderr.String(), args[len(args)-2]) {
			t.Errorf("serve %v: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}
