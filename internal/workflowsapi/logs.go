package workflowsapi

import (
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/opentasks/opentasks/workflows"
)

// Execution logs are kept in memory for the web console: the sys.log lines
// and call logs Cloud Workflows sends to Cloud Logging, which the
// Executions API does not return. Bounded, and only on the node that ran
// the execution; a restart forgets them.
const (
	maxLogExecutions = 1000
	maxLogEntries    = 500
	maxLogValueBytes = 4 << 10
)

// LogEntry is one line of an execution's log.
type LogEntry struct {
	Time time.Time
	// Kind is "sys.log" or "call".
	Kind string
	// Severity of a sys.log line (DEFAULT, INFO, ...).
	Severity string
	// Text is a sys.log line's value as JSON.
	Text string
	// A call's place, callee and state: BEGUN (with Args), SUCCEEDED
	// (with Result) or EXCEPTION_RAISED (with Error), as Cloud Workflows'
	// call logs name them.
	Routine, Step, Callee, State string
	Line                         int
	Args, Result, Error          string
}

// ExecutionLog is what Service.ExecutionLog returns.
type ExecutionLog struct {
	Entries []LogEntry
	// Dropped counts the entries past the bound, not kept.
	Dropped int
}

type execLogs struct {
	now   func() time.Time
	mu    sync.Mutex
	logs  map[string]*ExecutionLog
	order []string // oldest first, for eviction
}

func newExecLogs(now func() time.Time) *execLogs {
	return &execLogs{now: now, logs: map[string]*ExecutionLog{}}
}

func (l *execLogs) add(execution string, e LogEntry) {
	e.Time = l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	log := l.logs[execution]
	if log == nil {
		if len(l.order) >= maxLogExecutions {
			delete(l.logs, l.order[0])
			l.order = l.order[1:]
		}
		log = &ExecutionLog{}
		l.logs[execution] = log
		l.order = append(l.order, execution)
	}
	if len(log.Entries) >= maxLogEntries {
		log.Dropped++
		return
	}
	log.Entries = append(log.Entries, e)
}

func (l *execLogs) get(execution string) ExecutionLog {
	l.mu.Lock()
	defer l.mu.Unlock()
	log := l.logs[execution]
	if log == nil {
		return ExecutionLog{}
	}
	return ExecutionLog{Entries: append([]LogEntry(nil), log.Entries...), Dropped: log.Dropped}
}

// sysLog records one sys.log line ({"severity", "data"|"text"|"json"}).
func (l *execLogs) sysLog(execution string, line []byte) {
	var m map[string]json.RawMessage
	e := LogEntry{Kind: "sys.log", Text: string(line)}
	if json.Unmarshal(line, &m) == nil {
		_ = json.Unmarshal(m["severity"], &e.Severity)
		for _, k := range []string{"data", "text", "json"} {
			if v, ok := m[k]; ok {
				e.Text = clip(string(v))
			}
		}
	}
	l.add(execution, e)
}

// onCall records a call step's call as it begins and ends.
func (l *execLogs) onCall(execution string) func(workflows.CallEvent) {
	return func(ev workflows.CallEvent) {
		e := LogEntry{Kind: "call", Routine: ev.Routine, Step: ev.Step, Line: ev.Line, Callee: ev.Callee}
		switch {
		case !ev.Done:
			e.State, e.Args = "BEGUN", jsonText(ev.Args)
		case ev.Err != nil:
			e.State, e.Error = "EXCEPTION_RAISED", clip(errorText(ev.Err))
		default:
			e.State, e.Result = "SUCCEEDED", jsonText(ev.Result)
		}
		l.add(execution, e)
	}
}

// errorText is a call's error as the workflow sees it (its error map as
// JSON), else its message.
func errorText(err error) string {
	var we *workflows.Error
	if errors.As(err, &we) {
		if b, jerr := workflows.EncodeJSON(we.Value); jerr == nil {
			return string(b)
		}
	}
	return err.Error()
}

func jsonText(v any) string {
	b, err := workflows.EncodeJSON(v)
	if err != nil {
		return err.Error()
	}
	return clip(string(b))
}

func clip(s string) string {
	if len(s) > maxLogValueBytes {
		return s[:maxLogValueBytes] + "…"
	}
	return s
}

// ExecutionLog returns the sys.log lines and call logs of an execution run
// by this process (empty for one it did not run, or forgot).
func (s *Service) ExecutionLog(name string) ExecutionLog { return s.logs.get(name) }
