// Package workflows runs Google Cloud Workflows definitions locally.
//
// Load parses a YAML or JSON definition (a bare list of steps, or `main`
// plus subworkflows) into nodes that remember their source line, compiles
// every "${...}" string into an expression tree, and runs static checks:
// unknown step kinds, unreachable jump targets, break/continue outside a
// loop, unknown or blocking functions in expressions, the documented limits
// (50 assignments, 50 conditions, 2..10 branches) and parallel branches
// that write parent variables without declaring them shared. Every check
// reports the step and line.
//
// Values are plain Go values (nil, bool, int64, float64, string, []byte,
// []any, map[string]any), with integers and doubles kept apart from the
// YAML/JSON source to the JSON output. Lists and maps are never mutated in
// place; assigning a nested path copies the containers on that path, which
// gives Workflows' pass-by-value semantics cheaply and makes values safe to
// share between parallel branches.
//
// Errors are values too: a built-in error is a map with "tags" and
// "message" (HttpError adds code, headers and body), a raised value is
// kept as is, and *Error carries it with the step, routine and line where it
// was raised, which is what the CLI prints.
//
// The runner talks to the world only through Config: the connectors'
// endpoint, an HTTP client, sys.get_env's variables and the execution's
// Identity (the built-in GOOGLE_CLOUD_* variables), a clock and a sleeper
// (tests inject fakes, so retries, backoff, callback timeouts and
// connector polling never sleep), a callback registry (Callbacks, with
// MemoryCallbacks as the in-process one and its HTTP handler) and Mocks.
// The connectors are not a hand-written table: connector_map.go derives
// every googleapis.cloudtasks.v2.* and googleapis.workflowexecutions.v1.*
// method from the google.api.http rules in the cloudtaskspb and
// executionspb descriptors (path, query and body arguments, HTTP verb,
// and the name by the discovery naming rule), plus the two Cloud Tasks
// Locations methods and the Workflow Executions run helper. They speak
// REST like any other client and apply the connectors' built-in retry
// policy (429/503, and for GET also 502/504 and transport errors);
// Workflow Executions' create and run poll the child until it ends.
//
// Mocks (mock.go, docs/workflows-mocks.md) answer calls from a list of
// rules; with them, every http.* and googleapis.* call must be answered
// (or passed through), and an unmatched one stops the run with an
// UnmatchedCallError that no except can catch.
//
// Choices where the spec is open: `%` and `//` follow floor semantics;
// integer overflow is a ValueError; assigning a nested path creates missing
// intermediate maps; reading an undefined variable is a KeyError; a bare
// step list binds the execution argument to `args`; after the connector's
// retries, the last HttpError is raised; a refused connection carries both
// ConnectionError (connector pages) and ConnectionFailedError tags for
// connectors, ConnectionFailedError alone for http.*; a callback request's
// query maps each name to the list of its values, its url is the path,
// its received_time RFC 3339 in UTC; a map key computed by ${...} must be
// a string (TypeError otherwise).
package workflows
