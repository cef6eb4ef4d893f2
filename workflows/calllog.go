package workflows

// CallEvent is a call step's call beginning (Done false, with Args) or
// ending (Done true, with Result or Err), as Cloud Workflows' call logs
// (callLogLevel LOG_ALL_CALLS) record them: subworkflows, library
// functions and connectors alike.
type CallEvent struct {
	Routine, Step string
	Line          int
	Callee        string
	Args          map[string]any
	Done          bool
	Result        any
	Err           error
}

func (ex *execution) onCall(ev CallEvent) {
	if ex.cfg.OnCall != nil {
		ex.cfg.OnCall(ev)
	}
}
