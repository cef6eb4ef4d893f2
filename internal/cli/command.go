package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Command is one verb of a Group.
type Command struct {
	Name    string
	Summary string
	// Args names the positional arguments in the usage line ("QUEUE").
	Args string
	// Flags registers the verb's own flags (Globals are added for it).
	Flags func(fs *flag.FlagSet)
	// Run does the work; args are the positional arguments.
	Run func(ctx context.Context, c *Call, args []string) error
}

// Group is a set of verbs under one word (`opentasks queues`).
type Group struct {
	Name     string
	Summary  string
	Commands []*Command
}

// Call is one invocation of a Command.
type Call struct {
	Env
	Globals
	// Path is the dotted command path for error messages
	// ("opentasks.queues.describe").
	Path string
	// Flags holds the command's flags, parsed.
	Flags *flag.FlagSet
}

// Confirm asks on stderr whether to go on (default yes) and reads the
// answer from stdin: an empty answer, end of input (not a terminal) or
// --quiet take the default, as gcloud's prompts do; "n" aborts.
func (c *Call) Confirm(msg string) error {
	if c.Quiet {
		return nil
	}
	fmt.Fprintf(c.Stderr, "%s\n\nDo you want to continue (Y/n)?  ", msg)
	var answer string
	if c.Stdin != nil {
		_, _ = fmt.Fscanln(c.Stdin, &answer)
	}
	fmt.Fprintln(c.Stderr)
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "", "y", "yes":
		return nil
	}
	return errors.New("Aborted by user.")
}

// Run runs the verb args[0] of g with args[1:]; it returns the exit code.
func (g *Group) Run(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || isHelp(args[0]) {
		g.usage(env.Stderr)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	var cmd *Command
	for _, c := range g.Commands {
		if c.Name == args[0] {
			cmd = c
		}
	}
	path := "opentasks." + strings.ReplaceAll(g.Name, " ", ".")
	if cmd == nil {
		return Usage(env.Stderr, path, fmt.Errorf("Invalid choice: '%s'.", args[0]))
	}
	path += "." + cmd.Name
	fs := flag.NewFlagSet("opentasks "+g.Name+" "+cmd.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	call := &Call{Env: env, Path: path}
	call.Globals.Register(fs, env)
	if cmd.Flags != nil {
		cmd.Flags(fs)
	}
	pos, err := Parse(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(env.Stdout, "usage: opentasks %s %s %s [flags]\n\n%s\n\nflags:\n", g.Name, cmd.Name, cmd.Args, cmd.Summary)
		fs.SetOutput(env.Stdout)
		fs.PrintDefaults()
		return ExitOK
	}
	if err != nil {
		return Usage(env.Stderr, path, err)
	}
	if err := call.Globals.check(); err != nil {
		return Usage(env.Stderr, path, err)
	}
	call.Flags = fs
	return Exit(env.Stderr, path, cmd.Run(ctx, call, pos))
}

func (g *Group) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: opentasks %s <command> [flags]\n\n%s\n\ncommands:\n", g.Name, g.Summary)
	for _, c := range g.Commands {
		fmt.Fprintf(w, "  %-24s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\nopentasks %s <command> --help describes a command's flags.\n", g.Name)
}

func isHelp(a string) bool {
	return a == "help" || a == "-h" || a == "-help" || a == "--help"
}

// Parse parses fs from args with flags and positional arguments in any
// order, as gcloud allows (`queues create q --location l`); "--" ends
// the flags.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
				return nil, fmt.Errorf("unrecognized arguments: %s", asGiven(args, name))
			}
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at "--" too: what follows is all positional.
		if i := len(args) - len(rest); i > 0 && args[i-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// asGiven is the argument that named flag name, as the user wrote it.
func asGiven(args []string, name string) string {
	for _, a := range args {
		if f, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); f == name && strings.HasPrefix(a, "-") {
			return a
		}
	}
	return "--" + name
}

// UsageError is a mistake on the command line: exit code 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Usage prints a usage error the way gcloud does and returns ExitUsage.
func Usage(stderr io.Writer, path string, err error) int {
	fmt.Fprintf(stderr, "ERROR: (%s) %v\n", path, err)
	return ExitUsage
}
