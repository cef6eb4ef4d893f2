package dispatch

// Observer is told what the dispatcher does, for metrics and attempt logs
// (internal/metrics). Both methods run on the dispatcher's hot path and
// must be cheap and never block: Dispatched on a queue's scheduler (or a
// RunTask call), Attempted on the completer's one goroutine.
type Observer interface {
	// Dispatched: n attempts of queue were leased and are starting.
	Dispatched(queue string, n int)
	// Attempted: an attempt is over (each Dispatched attempt is reported
	// once, except those the dispatcher abandons when it stops). o.Task's
	// LastAttempt holds the attempt's schedule, dispatch and response
	// times and its response status. o must not be kept after the call.
	Attempted(o *Outcome)
}

// Backlog is what the dispatcher has in hand but not yet done.
type Backlog struct {
	// Outcomes are finished attempts whose outcome waits to be written.
	Outcomes int
	// QueuesWaiting are the queues in line for one of the dispatcher's
	// slots (--max-in-flight are all taken).
	QueuesWaiting int
}

// Backlog returns the dispatcher's backlog now; it is cheap enough for
// every metrics scrape.
func (d *Dispatcher) Backlog() Backlog {
	d.slots.mu.Lock()
	waiting := len(d.slots.waiting)
	d.slots.mu.Unlock()
	return Backlog{Outcomes: len(d.done), QueuesWaiting: waiting}
}

// dispatched reports n attempts of queue to the observer, if any.
func (d *Dispatcher) dispatched(queue string, n int) {
	if d.cfg.Observer != nil && n > 0 {
		d.cfg.Observer.Dispatched(queue, n)
	}
}
