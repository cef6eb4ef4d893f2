package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// serveFor runs serve with args until stop is called, and returns its
// base URL.
func serveFor(t *testing.T, stderr io.Writer, args ...string) (base string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(deadline(t, time.Minute))
	out, stdout := io.Pipe()
	done := make(chan int, 1)
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--store", "sqlite:" + filepath.Join(t.TempDir(), "serve.db")}, args...)
	go func() {
		done <- run(ctx, args, stdout, stderr, nil)
		stdout.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("no serving line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	base, _, _ = strings.Cut(strings.TrimPrefix(line, "opentasks: serving on "), " ")
	return base, func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d", code)
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeMetricsAndJSONLogs: /metrics counts API calls, REST included,
// and with --log-format json every line serve writes is a JSON object.
func TestServeMetricsAndJSONLogs(t *testing.T) {
	// The logger's handler serialises its writes, and logs is read once
	// serve has returned.
	var logs strings.Builder
	base, stop := serveFor(t, &logs, "--log-format", "json", "--log-level", "debug")
	if code, _ := get(t, base+"/v2/projects/p/locations/us-central1/queues/nope"); code != http.StatusNotFound {
		t.Fatalf("GET of a missing queue: %d", code)
	}
	code, body := get(t, base+"/metrics")
	if want := `opentasks_api_requests_total{code="not_found",method="GetQueue"} 1`; code != http.StatusOK || !strings.Contains(body, want) {
		t.Errorf("GET /metrics: %d, lacks %q:\n%s", code, want, body)
	}
	stop()
	msgs := map[string]bool{}
	for line := range strings.Lines(logs.String()) {
		var entry struct{ Msg string }
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("log line is not JSON: %v: %s", err, line)
		}
		msgs[entry.Msg] = true
	}
	if !msgs["rpc"] || !msgs["stopped"] {
		t.Errorf("logs lack the rpc and stopped lines:\n%s", logs.String())
	}
}

func TestServeWithoutMetrics(t *testing.T) {
	base, stop := serveFor(t, io.Discard, "--metrics=false")
	defer stop()
	if code, _ := get(t, base+"/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics with --metrics=false: %d, want 404", code)
	}
}

func TestLogFormatFlag(t *testing.T) {
	var stderr strings.Builder
	if code := run(context.Background(), []string{"serve", "--log-format", "xml"}, io.Discard, &stderr, nil); code != 2 ||
		!strings.Contains(stderr.String(), "must be text or json") {
		t.Fatalf("code %d, stderr %q", code, stderr.String())
	}
}

// With authentication on, /metrics asks for no token, and the calls the
// guard refuses are counted with their code.
func TestMetricsCountRefusedCalls(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("s3cr3t user:ci@example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, stop := serveFor(t, io.Discard, "--auth-tokens", tokens)
	defer stop()
	g := grpcClient(t, strings.TrimPrefix(base, "http://"))
	_, err := g.GetQueue(t.Context(), &cloudtaskspb.GetQueueRequest{Name: "projects/p/locations/l/queues/q"})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("GetQueue without a token: %v", err)
	}
	code, body := get(t, base+"/metrics")
	if want := `opentasks_api_requests_total{code="unauthenticated",method="GetQueue"} 1`; code != http.StatusOK || !strings.Contains(body, want) {
		t.Errorf("GET /metrics: %d, lacks %q", code, want)
	}
}
