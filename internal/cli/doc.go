// Package cli is OpenTasks' gcloud-shaped command line: `opentasks queues
// ...` and `opentasks tasks ...` speak the Cloud Tasks v2 API over the
// network, through Google's own Go client in REST mode, to an OpenTasks
// server or to real Cloud Tasks (an https endpoint uses Application
// Default Credentials). Verbs, flag names and meanings, output and exit
// codes follow gcloud's `tasks` group (OPERATIONS_SPEC 2): resources go to
// stdout (a table for lists, YAML for describe, or --format json|yaml),
// status lines to stderr, an API failure prints
// `ERROR: (opentasks.queues.describe) NOT_FOUND: message` and exits 1, a
// usage mistake exits 2.
//
// The pieces other command groups build on (the workflows verbs, say):
// Env (the process's streams and environment), Globals (--project,
// --location, --endpoint, --format, --quiet), Parse (flags and positional
// arguments in any order, as gcloud takes them), Printer (one resource or
// a list, in the chosen format) and Fail/Exit (gcloud's error text and exit
// codes). A command is a Command in a Group; cmd/opentasks only routes.
package cli
