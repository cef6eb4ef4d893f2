package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/opentasks/opentasks/internal/auth"
)

// TestLoopbackTransport: a request waits for the handler (or its context),
// then reaches it in-process as the service account, and its answer comes
// back whole.
func TestLoopbackTransport(t *testing.T) {
	l := newLoopback()
	client := &http.Client{Transport: l.transport("wf@p.iam.gserviceaccount.com")}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://127.0.0.1:1/v2/x", nil)
	if _, err := client.Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("before serve, cancelled: %v", err)
	}

	got := make(chan *http.Request, 1)
	l.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	resp, err := client.Get("https://127.0.0.1:1/v2/x?y=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTeapot || string(body) != `{"ok":true}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("answer %d %q %v", resp.StatusCode, body, resp.Header)
	}
	r := <-got
	if p, _ := auth.PrincipalFrom(r.Context()); p.Member != "serviceAccount:wf@p.iam.gserviceaccount.com" || r.RequestURI != "/v2/x?y=1" {
		t.Fatalf("the handler saw principal %q, URI %q", p.Member, r.RequestURI)
	}
}
