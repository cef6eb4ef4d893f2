package targets_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/genproto/googleapis/rpc/code"

	"github.com/opentasks/opentasks/internal/deliver"
	"github.com/opentasks/opentasks/internal/targets"
)

func TestCheckURL(t *testing.T) {
	for _, c := range []struct {
		deny, allow string
		url         string
		denied      bool
	}{
		{"", "", "http://169.254.169.254/computeMetadata/v1/", true},
		{"", "", "http://[fd00:ec2::254]/latest/meta-data/", true},
		{"", "", "http://[::ffff:169.254.169.254]/", true},
		{"", "", "http://[fe80::1]/", true},
		{"", "", "http://metadata.google.internal/computeMetadata/v1/", true},
		{"", "", "http://Metadata.Google.Internal./", true},
		{"", "", "http://127.0.0.1:8080/", false},
		{"", "", "https://example.com/", false},
		{"10.0.0.0/8", "", "http://10.1.2.3/", true},
		{"10.0.0.0/8", "", "http://11.1.2.3/", false},
		{"internal.example", "", "http://internal.example/", true},
		{"", "169.254.169.254", "http://169.254.169.254/", false},
		{"", "metadata.google.internal", "http://metadata.google.internal/", false},
		{"", "127.0.0.0/8", "http://10.0.0.1/", true},
		{"", "127.0.0.0/8", "http://127.0.0.1/", false},
		{"", "127.0.0.0/8", "http://anything.example/", false}, // may resolve into 127/8: the connection decides
		{"", "*.example.com", "http://api.example.com/", false},
		{"", "*.example.com", "http://example.org/", true},
		{"", "*.example.com", "http://127.0.0.1/", true},
		{"127.0.0.1", "127.0.0.0/8", "http://127.0.0.1/", true},
	} {
		p, err := targets.Parse(c.deny, c.allow, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = p.CheckURL(c.url)
		if (err != nil) != c.denied || err != nil && !errors.Is(err, targets.ErrDenied) {
			t.Errorf("deny %q allow %q: CheckURL(%s) = %v; denied %v", c.deny, c.allow, c.url, err, c.denied)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "user@host", "a b"} {
		if _, err := targets.Parse(bad, "", nil); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDeliveryRefused: an attempt to the metadata address fails before
// any connection, with a PERMISSION_DENIED lastAttempt status that says
// why and a log line; one to an allowed loopback target is delivered; a
// name that resolves to a denied address is refused at connect time.
func TestDeliveryRefused(t *testing.T) {
	var log syncBuffer
	p, err := targets.Parse("", "", slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	d := deliver.New(deliver.Config{Dial: p.Dial})
	t.Cleanup(d.Close)
	hits := make(chan string, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { hits <- r.URL.Path }))
	t.Cleanup(ts.Close)

	attempt := func(url string) deliver.Result {
		task := &cloudtaskspb.Task{MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: url}}}
		return d.Deliver(context.Background(), &deliver.Attempt{Queue: &cloudtaskspb.Queue{}, Task: task})
	}

	res := attempt("http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token")
	st := deliver.ResponseStatus(res)
	if !errors.Is(res.Err, targets.ErrDenied) || st.GetCode() != int32(code.Code_PERMISSION_DENIED) ||
		!strings.Contains(st.GetMessage(), "169.254.169.254 is a link-local or cloud metadata address") {
		t.Fatalf("metadata attempt: %+v, status %v", res, st)
	}
	if !strings.Contains(log.String(), "task target denied") || !strings.Contains(log.String(), "169.254.169.254:80") {
		t.Fatalf("log: %q", log.String())
	}

	if res := attempt(ts.URL + "/ok"); !res.Succeeded() {
		t.Fatalf("loopback attempt: %+v", res)
	}
	if got := <-hits; got != "/ok" {
		t.Fatalf("target saw %q", got)
	}

	// localhost passes the URL check but resolves into a denied range.
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	strict, err := targets.Parse("127.0.0.0/8,::1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := strict.CheckURL("http://localhost:" + port + "/"); err != nil {
		t.Fatalf("CheckURL(localhost) = %v", err)
	}
	if _, err := strict.Dial("localhost:" + port); !errors.Is(err, targets.ErrDenied) {
		t.Fatalf("Dial(localhost) = %v; want ErrDenied", err)
	}
	select {
	case got := <-hits:
		t.Fatalf("the denied dial reached the target: %q", got)
	default:
	}
}
