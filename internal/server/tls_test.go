package server_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/opentasks/opentasks/internal/reload"
	"github.com/opentasks/opentasks/internal/server"
	"github.com/opentasks/opentasks/internal/testpki"
)

// TestServeTLSReloadsCertificate: ServeTLS answers HTTP/2 and HTTP/1.1
// over TLS, and a certificate rewritten on disk is served from the next
// handshake on, while a broken rewrite keeps the last good one.
func TestServeTLSReloadsCertificate(t *testing.T) {
	ca := testpki.New(t)
	dir := t.TempDir()
	certFile, keyFile := ca.WriteFiles(dir, "first")
	kp, err := reload.NewKeyPair(certFile, keyFile, reload.WithInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.ServeTLS(ctx, ln, server.New(&fakeAPI{}), &tls.Config{GetCertificate: kp.GetCertificate}, 5*time.Second)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeTLS: %v", err)
		}
	}()

	served := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", ln.Addr().String(), ca.ClientConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "first" {
		t.Fatalf("served %q", cn)
	}

	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: ca.ClientConfig(), ForceAttemptHTTP2: h2}
		resp, err := (&http.Client{Transport: tr}).Get("https://" + ln.Addr().String() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if want := map[bool]int{true: 2, false: 1}[h2]; resp.StatusCode != 200 || string(b) != "ok\n" || resp.ProtoMajor != want {
			t.Fatalf("/healthz over HTTP/%d = %s %q", resp.ProtoMajor, resp.Status, b)
		}
	}

	ca.WriteFiles(dir, "second")
	if cn := served(); cn != "second" {
		t.Fatalf("after the rewrite, served %q", cn)
	}
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cn := served(); cn != "second" {
		t.Fatalf("after a broken rewrite, served %q", cn)
	}
}
