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
	"google.golang.org/protobuf/encoding/protojson"
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
		var he *googleapi.Error
		if errors.As(err, &he) {
			// Over REST the status name is in the body; the client maps only
			// the HTTP code, which is ambiguous (409 is ABORTED or
			// ALREADY_EXISTS).
			var body struct {
				Error struct{ Status string }
			}
			if json.Unmarshal([]byte(he.Body), &body) == nil && body.Error.Status != "" {
				name = body.Error.Status
			}
		}
		fmt.Fprintf(stderr, "ERROR: (%s) %s: %s\n", path, name, st.Message())
		for _, d := range st.Proto().GetDetails() {
			if b, err := protojson.Marshal(d); err == nil {
				if y, err := yaml.JSONToYAML(b); err == nil {
					fmt.Fprintf(stderr, "- %s", indentRest(string(y)))
				}
			}
		}
		return ExitError
	}
	fmt.Fprintf(stderr, "ERROR: (%s) %v\n", path, err)
	return ExitError
}

// indentRest indents every line but the first by two spaces, so that a
// YAML mapping becomes an item of a YAML list.
func indentRest(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		out = append(out, s[i])
		if s[i] == '\n' && i+1 < len(s) {
			out = append(out, ' ', ' ')
		}
	}
	return string(out)
}
