package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/opentasks/opentasks/internal/cli"
)

// routeWorkflows sends `opentasks workflows ...` to the server-side
// commands (internal/cli: deploy, describe, list, delete, execute,
// executions, and run NAME) or to the local run of a file (run FILE).
func routeWorkflows(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	env := cli.Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Environ: environ}
	if len(args) == 0 {
		return runWorkflowsIO(ctx, args, stdin, stdout, stderr, environ)
	}
	switch args[0] {
	case "deploy", "describe", "list", "delete", "execute":
		return cli.Workflows().Run(ctx, env, args)
	case "executions":
		return cli.WorkflowExecutions().Run(ctx, env, args[1:])
	case "run":
		if target, ok := runTarget(args[1:]); ok && !isDefinitionFile(target) {
			return cli.Workflows().Run(ctx, env, args)
		}
	}
	return runWorkflowsIO(ctx, args, stdin, stdout, stderr, environ)
}

// runTarget is the positional argument of `run`: the first argument that
// is neither a flag nor a flag's value (every flag of run takes a value
// but --quiet and -q).
func runTarget(args []string) (string, bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return args[i+1], true
			}
			return "", false
		case a == "-" || !strings.HasPrefix(a, "-"):
			return a, true
		case strings.Contains(a, "="), a == "-q", a == "--quiet", a == "-quiet":
		default:
			i++ // the flag's value
		}
	}
	return "", false
}

// isDefinitionFile reports whether target names a workflow definition to
// run locally: "-" (standard input), an existing file, or a name ending
// in .yaml, .yml or .json. Anything else is a deployed workflow's name.
func isDefinitionFile(target string) bool {
	if target == "-" {
		return true
	}
	switch strings.ToLower(filepath.Ext(target)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	fi, err := os.Stat(target)
	return err == nil && !fi.IsDir()
}
