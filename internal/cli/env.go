package cli

import (
	"io"
	"strings"
)

// Env is what a command may touch of its process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Environ is os.Environ()'s shape: KEY=VALUE.
	Environ []string
}

// Getenv returns the value of key in e.Environ, or "".
func (e Env) Getenv(key string) string {
	for _, kv := range e.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// Exit codes, as gcloud uses them.
const (
	ExitOK    = 0
	ExitError = 1 // the API or the environment refused
	ExitUsage = 2 // the command line is wrong
)
