package workflowsapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/opentasks/opentasks/internal/apierr"
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
// It calls api (the Service, or the Service behind IAM).
func CreateExecutionHandler(api executionspb.ExecutionsServer) http.Handler {
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
		e, err := api.CreateExecution(r.Context(), &executionspb.CreateExecutionRequest{Parent: parent, Execution: in})
		if err != nil {
			server.WriteError(w, err)
			return
		}
		out, err := protojson.MarshalOptions{UseEnumNumbers: server.EnumNumbers(r)}.Marshal(e)
		if err != nil {
			server.WriteError(w, apierr.Internal("encoding execution", err))
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write(out)
	})
}

// ListCallbacksRoute is the Executions API's ListCallbacks (not in the
// released proto); the callbacks themselves are completed at
// workflows.CallbackRESTPattern and CallbacksRoute.
const ListCallbacksRoute = "GET /v1/projects/{project}/locations/{location}/workflows/{workflow}/executions/{execution}/callbacks"

// ListCallbacksHandler lists an execution's live callback endpoints:
// {"callbacks": [{name, method, availablePayloads, waiters}]}, by name, all
// on one page. Only the endpoints of executions running in this process
// are known.
func (s *Service) ListCallbacksHandler() http.Handler {
	type callback struct {
		Name              string   `json:"name"`
		Method            string   `json:"method"`
		AvailablePayloads []string `json:"availablePayloads,omitempty"`
		Waiters           int64    `json:"waiters,string,omitempty"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		execution := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/"), "/callbacks")
		if _, _, ok := parseExecution(execution); !ok {
			server.WriteError(w, invalid(msgExecutionFormat))
			return
		}
		if _, err := s.GetExecution(r.Context(), &executionspb.GetExecutionRequest{Name: execution}); err != nil {
			server.WriteError(w, err)
			return
		}
		out := struct {
			Callbacks []callback `json:"callbacks,omitempty"`
		}{}
		for _, c := range s.callbacks.List(execution) {
			out.Callbacks = append(out.Callbacks, callback{c.Name, c.Method, c.AvailablePayloads, c.Waiters})
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_ = json.NewEncoder(w).Encode(out)
	})
}
