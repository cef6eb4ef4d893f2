package main

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestExposureRefused: without an auth flag, an address other hosts can
// reach is refused at start, naming the flags that allow it.
func TestExposureRefused(t *testing.T) {
	var stderr strings.Builder
	code := run(deadline(t, time.Minute), []string{"serve", "--addr", "0.0.0.0:0", "--store", "sqlite:" + t.TempDir() + "/db"}, io.Discard, &stderr, nil)
	if code != 1 {
		t.Fatalf("exit %d; stderr %q", code, stderr.String())
	}
	for _, flag := range []string{"--allow-unauthenticated", "--auth-tokens", "--auth-jwks"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("the refusal does not name %s: %q", flag, stderr.String())
		}
	}

	for _, c := range []struct {
		f    securityFlags
		addr string
		ok   bool
	}{
		{securityFlags{}, "127.0.0.1:1", true},
		{securityFlags{}, "[::1]:1", true},
		{securityFlags{}, "0.0.0.0:1", false},
		{securityFlags{}, "[::]:1", false},
		{securityFlags{}, "192.168.1.2:1", false},
		{securityFlags{allowUnauthenticated: true}, "0.0.0.0:1", true},
		{securityFlags{authTokens: "tokens"}, "0.0.0.0:1", true},
	} {
		addr, err := net.ResolveTCPAddr("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.f.checkExposure(addr); (err == nil) != c.ok {
			t.Errorf("%+v on %s: %v", c.f, c.addr, err)
		}
	}
}

// TestIAMPolicyNeedsAuth: a policy without a way to authenticate would
// authorize nobody; the flags are refused together.
func TestIAMPolicyNeedsAuth(t *testing.T) {
	_, err := parseServeFlags([]string{"--iam-policy", "p.json"}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "--auth-tokens") {
		t.Fatalf("err = %v", err)
	}
}
