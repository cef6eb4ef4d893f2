package deliver_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/opentasks/opentasks/internal/deliver"
)

// rawTarget accepts connections on loopback and hands each, once its
// request has arrived, to serve.
func rawTarget(t *testing.T, serve func(*net.TCPConn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 4096)
				if _, err := c.Read(buf); err != nil {
					c.Close()
					return
				}
				serve(c.(*net.TCPConn))
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

// TestFailureReasons: an attempt that gets no response says why, in its
// Result and as an ErrorInfo in its response_status (whose code and
// message stay Cloud Tasks': UNAVAILABLE, 503; DEADLINE_EXCEEDED, 504).
func TestFailureReasons(t *testing.T) {
	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		return "http://" + ln.Addr().String() + "/"
	}()
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	hung := rawTarget(t, func(c *net.TCPConn) { <-hold; c.Close() })
	for _, tc := range []struct {
		name     string
		cfg      deliver.Config
		url      string
		deadline time.Duration
		want     deliver.Failure
		code     int32
	}{
		{"refused", deliver.Config{}, refused, time.Minute, deliver.ConnectFailed, 14},
		{"connect timeout", deliver.Config{ConnectTimeout: time.Nanosecond}, hung, time.Minute, deliver.ConnectTimedOut, 14},
		// A reset before the response reads as the end of the stream.
		{"reset", deliver.Config{}, rawTarget(t, func(c *net.TCPConn) { c.SetLinger(0); c.Close() }), time.Minute, deliver.ConnectionClosed, 14},
		{"closed", deliver.Config{}, rawTarget(t, func(c *net.TCPConn) { c.Close() }), time.Minute, deliver.ConnectionClosed, 14},
		{"closed mid-header", deliver.Config{}, rawTarget(t, func(c *net.TCPConn) { c.Write([]byte("HTTP/1.1 200 OK\r\nContent-")); c.Close() }), time.Minute, deliver.ConnectionClosed, 14},
		{"deadline", deliver.Config{}, hung, 50 * time.Millisecond, deliver.DeadlineExceeded, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeliverer(t, tc.cfg)
			task := httpTask(tc.url, nil)
			task.DispatchDeadline = durationpb.New(tc.deadline)
			res := d.Deliver(t.Context(), first(nil, task))
			if res.Status != 0 || res.Failure != tc.want {
				t.Fatalf("Deliver = %+v, want no response and %s", res, tc.want)
			}
			st := deliver.ResponseStatus(res)
			if st.GetCode() != tc.code || len(st.GetDetails()) != 1 {
				t.Fatalf("response_status %v, want code %d and one detail", st, tc.code)
			}
			var info errdetails.ErrorInfo
			if err := st.Details[0].UnmarshalTo(&info); err != nil || info.Reason != string(tc.want) || info.Metadata["error"] == "" {
				t.Fatalf("detail %v (%v), want ErrorInfo %s with the error", st.Details[0], err, tc.want)
			}
		})
	}
}

// TestMaxConns: beyond Config.MaxConns open connections, an attempt fails
// to connect at once instead of taking another file descriptor.
func TestMaxConns(t *testing.T) {
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	arrived := make(chan struct{}, 1)
	hung := rawTarget(t, func(c *net.TCPConn) { arrived <- struct{}{}; <-hold; c.Close() })
	d := newDeliverer(t, deliver.Config{MaxConns: 1})
	go d.Deliver(t.Context(), first(nil, httpTask(hung, nil)))
	<-arrived
	if n := d.OpenConns(); n != 1 {
		t.Fatalf("OpenConns = %d, want 1", n)
	}
	res := d.Deliver(t.Context(), first(nil, httpTask(hung, nil)))
	if res.Failure != deliver.ConnectFailed || !strings.Contains(res.Err.Error(), "too many connections") {
		t.Fatalf("second attempt = %+v, want it refused for too many connections", res)
	}
}
