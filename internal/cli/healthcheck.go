package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Healthcheck is `opentasks healthcheck`: GET /healthz on the endpoint,
// exit 0 when it answers 200. Container images without curl run it as
// their HEALTHCHECK.
func Healthcheck(ctx context.Context, env Env, args []string) int {
	const path = "opentasks.healthcheck"
	fs := flag.NewFlagSet("opentasks healthcheck", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	endpoint := fs.String("endpoint", firstOf(env.Getenv("OPENTASKS_ENDPOINT"), localEndpoint(env.Getenv("OPENTASKS_ADDR")), DefaultEndpoint),
		"server `URL` (default $OPENTASKS_ENDPOINT, else serve's $OPENTASKS_ADDR on loopback)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if _, err := Parse(fs, args); err != nil {
		return Usage(env.Stderr, path, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *endpoint+"/healthz", nil)
	if err != nil {
		return Usage(env.Stderr, path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Exit(env.Stderr, path, fmt.Errorf("not healthy: %w", err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return Exit(env.Stderr, path, fmt.Errorf("not healthy: /healthz answered %s", resp.Status))
	}
	fmt.Fprintln(env.Stdout, "ok")
	return ExitOK
}

// localEndpoint is where a server listening on addr (serve's --addr, as
// OPENTASKS_ADDR sets it in a container) answers on this host: an
// unspecified host is loopback. It is "" when addr is.
func localEndpoint(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
