package workflowsapi

import (
	"io"
	"net/http"
	"strings"

	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/opentasks/opentasks/internal/server"
)

// CreateExecutionRoute is the REST route of CreateExecution, served by
// CreateExecutionHandler rather than by the transcoder.
const CreateExecutionRoute = "POST /v1/projects/{project}/locations/{location}/workflows/{workflow}/executions"

// CreateExecutionHandler serves CreateExecution over REST more leniently
// than the transcoder, because of who calls it: Cloud Tasks tasks of the
// buffering pattern post {"argument": "..."} without a Content-Type, and
// newer clients (the workflowexecutions connector's run helper among
// them) send fields the compiled executions.proto lacks, such as
// disableConcurrencyQuotaOverflowBuffering: unknown fields are ignored.
// This server never backlogs executions, so that one changes nothing.
func (s *Service) CreateExecutionHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4*maxArgumentBytes))
		if err != nil {
			server.WriteError(w, invalid("Cannot read request body: %v", err))
			return
		}
		in := &executionspb.Execution{}
		if strings.TrimSpace(string(body)) != "" {
			if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, in); err != nil {
				server.WriteError(w, invalid("Invalid JSON payload received. %v", err))
				return
			}
		}
		parent := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/"), "/executions")
		e, err := s.CreateExecution(r.Context(), &executionspb.CreateExecutionRequest{Parent: parent, Execution: in})
		if err != nil {
			server.WriteError(w, err)
			return
		}
		out, err := protojson.MarshalOptions{UseEnumNumbers: server.EnumNumbers(r)}.Marshal(e)
		if err != nil {
			server.WriteError(w, internal("encoding execution", err))
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write(out)
	})
}
