package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/opentasks/opentasks/workflows"
)

const workflowsUsage = `usage: opentasks workflows run FILE [--data JSON] [--endpoint URL] [--env KEY=VALUE ...]

Runs a Google Cloud Workflows definition (YAML or JSON) locally. The result is
printed as JSON on stdout; an error is printed as JSON on stderr followed by
the step, routine and line where it was raised, with exit status 1.
`

// envFlags collects repeated --env KEY=VALUE flags.
type envFlags map[string]string

func (e envFlags) String() string { return "" }

func (e envFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	e[k] = v
	return nil
}

// runWorkflows implements `opentasks workflows ...`; args follow "workflows".
// The process environment (environ) and --env feed sys.get_env.
func runWorkflows(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) int {
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprint(stderr, workflowsUsage)
		return 2
	}
	env := envFlags{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			env[k] = v
		}
	}
	fs := flag.NewFlagSet("workflows run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, workflowsUsage) }
	data := fs.String("data", "", "execution argument as JSON")
	endpoint := fs.String("endpoint", workflows.DefaultEndpoint, "Cloud Tasks endpoint for connectors")
	fs.Var(env, "env", "KEY=VALUE for sys.get_env (repeatable)")
	// Flags may come before or after FILE.
	var files []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 {
		fmt.Fprint(stderr, workflowsUsage)
		return 2
	}
	var arg any
	var err error
	if *data != "" {
		if arg, err = workflows.DecodeJSON([]byte(*data)); err != nil {
			fmt.Fprintf(stderr, "opentasks: --data is not valid JSON: %v\n", err)
			return 2
		}
	}
	wf, err := workflows.LoadFile(files[0])
	if err != nil {
		fmt.Fprintf(stderr, "opentasks: %s: %v\n", files[0], err)
		return 1
	}
	result, err := wf.Run(ctx, arg, workflows.Config{Endpoint: *endpoint, Env: env, Log: stderr})
	var werr *workflows.Error
	switch {
	case errors.As(err, &werr):
		payload, jerr := workflows.EncodeJSON(werr.Value)
		if jerr != nil {
			payload = []byte(fmt.Sprintf("%q", werr.Message()))
		}
		fmt.Fprintf(stderr, "%s\n%s\n", payload, werr.Context())
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "opentasks: %v\n", err)
		return 1
	}
	out, err := workflows.EncodeJSON(result)
	if err != nil {
		fmt.Fprintf(stderr, "opentasks: the result cannot be returned: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return 0
}
