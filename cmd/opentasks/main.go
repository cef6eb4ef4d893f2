// Command opentasks is a Cloud Tasks v2 server (opentasks serve).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: opentasks <command> [flags]

commands:
  serve      run the Cloud Tasks v2 server (gRPC, REST and /healthz on one port)
  workflows  run a Cloud Workflows definition locally (opentasks workflows run FILE)
  bench      measure this machine: creates/s, deliveries/s, lateness, rate accuracy
  soak       run a long mixed load with faulty targets and check nothing is lost
  queues     manage queues over the API, as gcloud tasks queues (create, update, describe, list, ...)
  tasks      manage tasks over the API, as gcloud tasks (create-http-task, list, run, ...)
  healthcheck  exit 0 when the server at --endpoint answers /healthz
  version    print the version and the commit it was built from
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and returns the exit code; ctx ends on
// SIGINT or SIGTERM.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr, environ)
	case "workflows":
		return runWorkflows(ctx, args[1:], stdout, stderr, environ)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "soak":
		return runSoak(ctx, args[1:], stdout, stderr)
	case "queues", "tasks", "healthcheck", "version":
		return runCLI(ctx, args, stdout, stderr, environ)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "opentasks: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
