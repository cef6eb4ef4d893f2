package sqlite

import (
	"sync"
	"time"
)

// leases holds the attempts in flight in memory rather than in the file.
// One process owns an SQLite file, and a restart ends every lease anyway
// (RecoverLeases), so a durable lease would cost each attempt a write and
// a commit for nothing. Reads overlay the leases on the stored tasks: a
// leased task is due at its lease's end, and GetTask shows the attempt
// (dispatch_count, last_attempt) from the moment it is leased. What a
// crash loses is that count: the attempt cut short by the crash is not
// counted, and the task is delivered again.
type leases struct {
	mu      sync.Mutex
	byQueue map[string]map[string]*lease
}

// lease is one attempt's claim on a task.
type lease struct {
	until time.Time
	task  []byte // the task with the attempt recorded, encoded
	exec  int32
}

func newLeases() *leases { return &leases{byQueue: make(map[string]map[string]*lease)} }

func (l *leases) get(queue, id string) *lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byQueue[queue][id]
}

// set stores le if check, called with the current lease (nil if none),
// allows it.
func (l *leases) set(queue, id string, le *lease, check func(cur *lease) bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.byQueue[queue]
	if !check(q[id]) {
		return false
	}
	if q == nil {
		q = make(map[string]*lease)
		l.byQueue[queue] = q
	}
	q[id] = le
	return true
}

// drop removes the task's lease if it is still le (nil: whatever it is).
func (l *leases) drop(queue, id string, le *lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.byQueue[queue]
	if cur, ok := q[id]; ok && (le == nil || cur == le) {
		delete(q, id)
		if len(q) == 0 {
			delete(l.byQueue, queue)
		}
	}
}

// ofQueue returns a copy of the queue's leases by task ID.
func (l *leases) ofQueue(queue string) map[string]*lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]*lease, len(l.byQueue[queue]))
	for id, le := range l.byQueue[queue] {
		out[id] = le
	}
	return out
}
