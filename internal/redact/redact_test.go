package redact_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/opentasks/opentasks/internal/redact"
)

const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"

func TestReplaceAttr(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: redact.ReplaceAttr}))
	log.Info("call",
		"authorization", "Bearer s3cr3t-1",
		"auth_token", "s3cr3t-2",
		"err", errors.New("target said: Authorization: Bearer s3cr3t-3"),
		"detail", "basic czNjcjN0LTQ= and "+jwt,
		"path", "/v2/projects/p/locations/l/queues/q",
	)
	out := buf.String()
	for _, secret := range []string{"s3cr3t-1", "s3cr3t-2", "s3cr3t-3", "czNjcjN0LTQ=", jwt} {
		if strings.Contains(out, secret) {
			t.Errorf("%q reached the log: %s", secret, out)
		}
	}
	for _, kept := range []string{"/v2/projects/p/locations/l/queues/q", "target said: Authorization: Bearer REDACTED", "basic REDACTED and REDACTED"} {
		if !strings.Contains(out, kept) {
			t.Errorf("%q is missing from the log: %s", kept, out)
		}
	}
}

func TestHeaders(t *testing.T) {
	got := redact.Headers(map[string]string{
		"Authorization": "Bearer abc", "Cookie": "sid=1", "X-Refresh-Token": "r", "Content-Type": "text/plain", "X-Note": "was Bearer abc",
	})
	want := map[string]string{
		"Authorization": redact.Mask, "Cookie": redact.Mask, "X-Refresh-Token": redact.Mask, "Content-Type": "text/plain", "X-Note": "was Bearer REDACTED",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q; want %q", k, got[k], v)
		}
	}
}
