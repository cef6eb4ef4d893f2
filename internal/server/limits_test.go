package server_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/testpki"
)

// maxStreamsAdvertised opens an HTTP/2 connection on c and returns the
// SETTINGS_MAX_CONCURRENT_STREAMS the server announces.
func maxStreamsAdvertised(t *testing.T, c net.Conn) uint32 {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			v, ok := sf.Value(http2.SettingMaxConcurrentStreams)
			if !ok {
				t.Fatal("no SETTINGS_MAX_CONCURRENT_STREAMS: unbounded")
			}
			return v
		}
	}
}

// TestConcurrentStreamsBounded: both ways of serving HTTP/2 (gRPC's own
// transport on a plain port, net/http under TLS) bound the calls in
// flight per connection.
func TestConcurrentStreamsBounded(t *testing.T) {
	ca := testpki.New(t)
	cert, key := ca.Issue("limits")
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	for name, serve := range map[string]func(context.Context, net.Listener) error{
		"h2c": func(ctx context.Context, ln net.Listener) error {
			return server.Serve(ctx, ln, server.New(&fakeAPI{}), time.Second)
		},
		"tls": func(ctx context.Context, ln net.Listener) error {
			return server.ServeTLS(ctx, ln, server.New(&fakeAPI{}), &tls.Config{Certificates: []tls.Certificate{pair}}, time.Second)
		},
	} {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- serve(ctx, ln) }()
			defer func() { cancel(); <-done }()

			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if name == "tls" {
				cfg := ca.ClientConfig()
				cfg.NextProtos, cfg.ServerName = []string{"h2"}, "localhost"
				tc := tls.Client(c, cfg)
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				c = tc
			}
			if n := maxStreamsAdvertised(t, c); n != 100 {
				t.Fatalf("MAX_CONCURRENT_STREAMS = %d; want 100", n)
			}
		})
	}
}
