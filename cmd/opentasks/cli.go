package main

import (
	"context"
	"io"
	"os"
	"runtime/debug"

	"github.com/opentasks/opentasks/internal/cli"
)

// runCLI routes the gcloud-shaped commands to internal/cli.
func runCLI(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) int {
	env := cli.Env{Stdin: os.Stdin, Stdout: stdout, Stderr: stderr, Environ: environ}
	switch args[0] {
	case "queues":
		return cli.Queues().Run(ctx, env, args[1:])
	case "tasks":
		return cli.Tasks().Run(ctx, env, args[1:])
	case "healthcheck":
		return cli.Healthcheck(ctx, env, args[1:])
	default:
		cli.PrintVersion(stdout, cli.BuildVersion(debug.ReadBuildInfo()))
		return 0
	}
}
