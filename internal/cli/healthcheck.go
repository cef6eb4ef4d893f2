package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
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
	endpoint := fs.String("endpoint", firstOf(env.Getenv("OPENTASKS_ENDPOINT"), DefaultEndpoint), "server `URL`")
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
