package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/goccy/go-yaml"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/genproto/googleapis/rpc/code"
)

// Exit prints err the way gcloud does and returns the exit code: 0 for
// nil, 2 for a UsageError, 1 otherwise. An API error reads
// "ERROR: (PATH) STATUS: message", followed by its details as YAML.
func Exit(stderr io.Writer, path string, err error) int {
	if err == nil {
		return ExitOK
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return Usage(stderr, path, ue.Err)
	}
	var ae *apierror.APIError
	if errors.As(err, &ae) {
		st := ae.GRPCStatus()
		name := code.Code(st.Code()).String()
		var details json.RawMessage
		var he *googleapi.Error
		if errors.As(err, &he) {
			// Over REST the status name is in the body; the client maps only
			// the HTTP code, which is ambiguous (409 is ABORTED or
			// ALREADY_EXISTS).
			var body struct {
				Error struct {
					Status  string
					Details json.RawMessage
				}
			}
			if json.Unmarshal([]byte(he.Body), &body) == nil && body.Error.Status != "" {
				name, details = body.Error.Status, body.Error.Details
			}
		}
		fmt.Fprintf(stderr, "ERROR: (%s) %s: %s\n", path, name, st.Message())
		if len(details) > 0 && string(details) != "[]" {
			if y, err := yaml.JSONToYAML(details); err == nil {
				_, _ = stderr.Write(y)
			}
		}
		return ExitError
	}
	fmt.Fprintf(stderr, "ERROR: (%s) %v\n", path, err)
	return ExitError
}
