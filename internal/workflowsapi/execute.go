package workflowsapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/workflows"
)

// msgInterrupted is the error of an execution whose process stopped or
// died while it ran: executions are not resumed (the runner keeps no
// checkpoint of a run's variables and position), they end FAILED.
const msgInterrupted = "Execution interrupted: the OpenTasks server running it stopped before it finished. It was not resumed; run it again."

// execute runs one execution and stores how it ended.
// cfg brings the execution's variables and identity.
func (s *Service) execute(ctx context.Context, r *run, e *executionspb.Execution, prog *workflows.Workflow, arg any, cfg workflows.Config) {
	cfg.Endpoint = s.cfg.Endpoint
	cfg.HTTPClient = s.cfg.HTTPClient
	if s.cfg.Connectors != nil {
		cfg.ConnectorClient = &http.Client{Transport: s.cfg.Connectors(cfg.Identity.ServiceAccount)}
	}
	cfg.Now = s.now
	cfg.Log = &logWriter{log: s.log, execution: e.GetName(), logs: s.logs}
	cfg.OnStep = r.onStep
	cfg.OnCall = s.logs.onCall(e.GetName())
	cfg.Callbacks = s.callbacks
	cfg.Mocks = s.cfg.Mocks
	result, runErr := prog.Run(ctx, arg, cfg)
	cause := context.Cause(ctx)
	_, err := s.st.UpdateExecution(context.WithoutCancel(ctx), e.GetName(), func(cur *executionspb.Execution) (*executionspb.Execution, error) {
		if cur.GetState() != executionspb.Execution_ACTIVE {
			return cur, nil // cancelled meanwhile
		}
		if errors.Is(cause, errShutdown) {
			return s.interrupted(cur), nil
		}
		s.end(cur, r.status())
		if runErr != nil {
			cur.State = executionspb.Execution_FAILED
			cur.Error = executionError(runErr)
			return cur, nil
		}
		out, err := workflows.EncodeJSON(result)
		if err != nil {
			cur.State = executionspb.Execution_FAILED
			cur.Error = executionError(fmt.Errorf("the result cannot be returned: %w", err))
			return cur, nil
		}
		cur.State = executionspb.Execution_SUCCEEDED
		cur.Result = string(out)
		return cur, nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) { // not deleted with its workflow
		// The lease runs out and the sweep ends it as interrupted.
		s.log.Error("storing the end of an execution", "execution", e.GetName(), "err", err)
	}
	if !errors.Is(cause, errShutdown) {
		s.startQueued(context.WithoutCancel(ctx), store.ExecutionWorkflow(e.GetName()))
	}
}

// end stamps the end of an execution.
func (s *Service) end(e *executionspb.Execution, st *executionspb.Execution_Status) {
	now := s.now()
	e.EndTime = timestamppb.New(now)
	e.Duration = durationpb.New(now.Sub(e.GetStartTime().AsTime()))
	if st != nil {
		e.Status = st
	}
}

// interrupted ends an execution whose process stopped or died.
func (s *Service) interrupted(e *executionspb.Execution) *executionspb.Execution {
	s.end(e, nil)
	e.State = executionspb.Execution_FAILED
	payload, _ := workflows.EncodeJSON(map[string]any{"message": msgInterrupted, "tags": []any{"SystemError"}})
	e.Error = &executionspb.Execution_Error{Payload: string(payload), Context: msgInterrupted}
	return e
}

// executionError is the error field of a failed execution, as Cloud
// Workflows fills it: the error value as JSON, its message with where it
// was raised, and that place as the stack trace.
func executionError(err error) *executionspb.Execution_Error {
	var we *workflows.Error
	if !errors.As(err, &we) {
		payload, _ := workflows.EncodeJSON(map[string]any{"message": err.Error(), "tags": []any{"SystemError"}})
		return &executionspb.Execution_Error{Payload: string(payload), Context: err.Error()}
	}
	payload, jerr := workflows.EncodeJSON(we.Value)
	if jerr != nil {
		payload, _ = workflows.EncodeJSON(we.Message())
	}
	msg := we.Message()
	if len(we.Tags()) == 0 {
		// A raised value rather than a built-in error.
		msg = "RuntimeError: " + string(payload)
	}
	out := &executionspb.Execution_Error{Payload: string(payload), Context: msg}
	if we.Step != "" {
		out.Context += "\n" + we.Context()
		out.StackTrace = &executionspb.Execution_StackTrace{Elements: []*executionspb.Execution_StackTraceElement{{
			Step: we.Step, Routine: we.Routine,
			Position: &executionspb.Execution_StackTraceElement_Position{Line: int64(we.Line)},
		}}}
	}
	return out
}

// logWriter turns an execution's sys.log lines into log records, and
// keeps them for ExecutionLog.
type logWriter struct {
	log       *slog.Logger
	execution string
	logs      *execLogs
}

func (w *logWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	w.log.Info("sys.log", "execution", w.execution, "entry", string(line))
	w.logs.sysLog(w.execution, line)
	return len(p), nil
}
