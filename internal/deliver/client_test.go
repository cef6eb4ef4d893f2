package deliver_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"

	"github.com/opentasks/opentasks/internal/deliver"
)

// TestRedirectRules: an HTTP task's attempt follows redirects as net/http's
// client does: 303 (and 301, 302) turn a POST into a GET without body, 307
// (and 308) repeat it; credentials go to the same host only; the tenth
// redirect is the last.
func TestRedirectRules(t *testing.T) {
	echo := make(chan seen, 4)
	record := func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		echo <- seen{method: r.Method, host: r.Host, header: r.Header.Clone(), body: string(b)}
	}
	other := httptest.NewServer(http.HandlerFunc(record))
	t.Cleanup(other.Close)
	var loops atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", record)
	mux.HandleFunc("/303", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/echo", http.StatusSeeOther) })
	mux.HandleFunc("/307", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/echo", http.StatusTemporaryRedirect)
	})
	// Another host name for the same loopback address.
	away := strings.Replace(other.URL, "127.0.0.1", "localhost", 1) + "/echo"
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, away, http.StatusTemporaryRedirect) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		loops.Add(1)
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d := newDeliverer(t, deliver.Config{})
	withAuth := func(path string) *deliver.Attempt {
		return first(nil, httpTask(srv.URL+path, func(hr *cloudtaskspb.HttpRequest) {
			hr.Headers["Authorization"] = "Basic abc"
		}))
	}
	for _, c := range []struct {
		path, method, body, auth string
	}{
		{"/303", "GET", "", "Basic abc"},
		{"/307", "POST", "payload", "Basic abc"},
		{"/away", "POST", "payload", ""},
	} {
		if res := d.Deliver(t.Context(), withAuth(c.path)); res.Status != 200 {
			t.Fatalf("%s: Deliver = %+v, want the redirect followed to a 200", c.path, res)
		}
		got := received(t, echo)
		if got.method != c.method || got.body != c.body || got.header.Get("Authorization") != c.auth {
			t.Errorf("%s: target got %s %q with Authorization %q; want %s %q with %q",
				c.path, got.method, got.body, got.header.Get("Authorization"), c.method, c.body, c.auth)
		}
		if got.header.Get("X-CloudTasks-TaskName") != "t1" {
			t.Errorf("%s: redirected request lost the task's headers: %v", c.path, got.header)
		}
	}
	if res := d.Deliver(t.Context(), withAuth("/loop")); res.Err == nil || res.Status != 0 {
		t.Fatalf("endless redirects: Deliver = %+v, want an error", res)
	}
	if n := loops.Load(); n != 11 {
		t.Fatalf("/loop reached %d times, want 11 (the request and 10 redirects)", n)
	}
}

// TestProxyFromEnvironment: HTTP_PROXY is honoured as net/http's
// ProxyFromEnvironment would: the attempt tunnels through the proxy.
func TestProxyFromEnvironment(t *testing.T) {
	srv, reqs := target(t, 200)
	proxy, tunnels := connectProxy(t, srv.Listener.Addr().String())
	t.Setenv("HTTP_PROXY", "http://"+proxy)
	t.Setenv("NO_PROXY", "")
	d := newDeliverer(t, deliver.Config{})
	if res := d.Deliver(t.Context(), first(nil, httpTask("http://tasks.example/hook", nil))); res.Status != 200 {
		t.Fatalf("Deliver = %+v, want 200 through the proxy", res)
	}
	if got := received(t, tunnels); got != "tasks.example:80" {
		t.Fatalf("proxy asked to CONNECT %q, want tasks.example:80", got)
	}
	if got := received(t, reqs); got.host != "tasks.example" || got.path != "/hook" {
		t.Fatalf("target got Host %q path %q", got.host, got.path)
	}
}

// connectProxy is an HTTP proxy that tunnels every CONNECT to to, whatever
// address it names, and reports the address named.
func connectProxy(t *testing.T, to string) (string, <-chan string) {
	tunnels := make(chan string, 4)
	s := newRawServer(t, func(s *rawServer, c net.Conn) {
		r, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil || r.Method != http.MethodConnect {
			c.Close()
			return
		}
		tunnels <- r.Host
		up, err := net.Dial("tcp", to)
		if err != nil {
			c.Close()
			return
		}
		s.keep(up)
		fmt.Fprint(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		s.wg.Go(func() { io.Copy(up, c); up.Close() })
		io.Copy(c, up)
		c.Close()
	})
	return s.addr(), tunnels
}

// TestStaleConnection: a keep-alive connection the target has closed since
// its last answer costs no failed attempt: the request goes again on a new
// connection.
func TestStaleConnection(t *testing.T) {
	closed := make(chan struct{}, 4)
	// Each connection gets one keep-alive answer, then the target closes
	// it, as a target whose idle timeout is shorter than ours would.
	s := newRawServer(t, func(_ *rawServer, c net.Conn) {
		defer func() {
			c.Close()
			closed <- struct{}{}
		}()
		r, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		io.Copy(io.Discard, r.Body)
		fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	})
	d := newDeliverer(t, deliver.Config{})
	task := httpTask("http://"+s.addr()+"/", nil)
	for i := range 3 {
		if res := d.Deliver(t.Context(), first(nil, task)); res.Status != 200 {
			t.Fatalf("attempt %d: Deliver = %+v, want 200", i, res)
		}
		// The target closes after answering: wait for it, so that the next
		// attempt finds the connection stale.
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("attempt %d: the target did not close its connection", i)
		}
	}
}

// TestLargeHeaders: a task's headers may total up to 80 KB, and a target
// may answer with large headers (cookies, policies); neither fails the
// attempt.
func TestLargeHeaders(t *testing.T) {
	big := strings.Repeat("v", 60<<10)
	got := make(chan int, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- len(r.Header.Get("X-Big"))
		w.Header().Set("X-Answer", big)
	}))
	t.Cleanup(srv.Close)
	d := newDeliverer(t, deliver.Config{})
	task := httpTask(srv.URL+"/", func(hr *cloudtaskspb.HttpRequest) { hr.Headers["X-Big"] = big })
	if res := d.Deliver(t.Context(), first(nil, task)); res.Status != 200 {
		t.Fatalf("Deliver = %+v, want 200", res)
	}
	if n := received(t, got); n != len(big) {
		t.Fatalf("target got X-Big of %d bytes, want %d", n, len(big))
	}
}
