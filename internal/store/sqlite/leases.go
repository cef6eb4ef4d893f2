package sqlite

import (
	"sync"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"

	"github.com/opentasks/opentasks/internal/store"
)

// leases holds the attempts in flight in memory rather than in the file.
// One process owns an SQLite file, and a restart ends every lease anyway
// (RecoverLeases), so a durable lease would cost each attempt a write and
// a commit for nothing. Reads overlay the leases on the stored tasks: a
// leased task is due at its lease's end, and GetTask shows the attempt
// (dispatch_count, last_attempt) from the moment it is leased. What a
// crash loses is that count: the attempt cut short by the crash is not
// counted, and the task is delivered again.
//
// Leasing a task must check that it is still due when it was read. Rather
// than read it again, LeaseTasks compares per-queue change counts: DueTasks
// stamps what it reads with its queue's count, and the writer goroutine,
// which both reads and writes, counts every write that may delete or move
// a task that a scheduler could hold in its buffer (deletes, purges, and
// completions of leases that RunTask took or that DueTasks saw run out).
// While the count is unchanged, the lease and the read agree on the task;
// otherwise LeaseTasks reads the store. Lease ends that follow a write
// happen in the writer goroutine too, so a read never sees a lease whose
// write has already landed.
type leases struct {
	mu      sync.Mutex
	byQueue map[string]map[string]*lease
	changes map[string]uint64
}

// lease is one attempt's claim on a task, with what the attempt recorded
// in the task (the rest of the task is as stored).
type lease struct {
	until       time.Time
	exec        int32
	count       int32 // dispatch_count
	first, last *cloudtaskspb.Attempt
	// forced: taken by RunTask, whatever the task's due time. seen:
	// DueTasks returned the task as due after this lease ran out.
	forced, seen bool
}

func newLease(l store.Lease) *lease {
	return &lease{
		until: l.Until, exec: l.ExecutionCount, forced: l.Due.IsZero(),
		count: l.Task.GetDispatchCount(),
		first: copyAttempt(l.Task.GetFirstAttempt()),
		last:  copyAttempt(l.Task.GetLastAttempt()),
	}
}

// show records the lease's attempt in pb, a task as stored.
func (le *lease) show(pb *cloudtaskspb.Task) {
	pb.DispatchCount = le.count
	pb.FirstAttempt, pb.LastAttempt = copyAttempt(le.first), copyAttempt(le.last)
}

// copyAttempt copies a, so that neither the lease nor a reader sees the
// other's changes; its timestamps are never changed in place.
func copyAttempt(a *cloudtaskspb.Attempt) *cloudtaskspb.Attempt {
	if a == nil {
		return nil
	}
	return &cloudtaskspb.Attempt{ScheduleTime: a.ScheduleTime, DispatchTime: a.DispatchTime,
		ResponseTime: a.ResponseTime, ResponseStatus: a.ResponseStatus}
}

func newLeases() *leases {
	return &leases{byQueue: make(map[string]map[string]*lease), changes: make(map[string]uint64)}
}

func (l *leases) get(queue, id string) *lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byQueue[queue][id]
}

// set stores le if check, called with the current lease (nil if none),
// allows it. A snapshot other than zero is the change count the task was
// read at; known is false, and nothing is stored, when the queue has
// changed since.
func (l *leases) set(queue, id string, snapshot uint64, le *lease, check func(cur *lease) bool) (ok, known bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if snapshot != 0 && snapshot != l.changes[queue]+1 {
		return false, false
	}
	q := l.byQueue[queue]
	if !check(q[id]) {
		return false, true
	}
	if q == nil {
		q = make(map[string]*lease)
		l.byQueue[queue] = q
	}
	q[id] = le
	return true, true
}

// drop removes the task's lease if it is still le (nil: whatever it is).
// Called in the writer goroutine.
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

// changed counts a write to queue's tasks (see leases). Called in the
// writer goroutine, before the write commits.
func (l *leases) changed(queue string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes[queue]++
}

// completed counts a completion of a task that held le (nil: none) if a
// scheduler may have read the task as due meanwhile. Called in the writer
// goroutine, before the write commits.
func (l *leases) completed(queue string, le *lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if le == nil || le.forced || le.seen {
		l.changes[queue]++
	}
}

// ofQueue returns a copy of the queue's leases by task ID and the change
// count that a read made now is stamped with.
func (l *leases) ofQueue(queue string) (map[string]*lease, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]*lease, len(l.byQueue[queue]))
	for id, le := range l.byQueue[queue] {
		out[id] = le
	}
	return out, l.changes[queue] + 1
}

// see marks le as returned by DueTasks after it ran out.
func (l *leases) see(le *lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	le.seen = true
}
