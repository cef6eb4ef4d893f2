// Package dispatch delivers the tasks of every queue when they come due,
// with Cloud Tasks' rate limits, concurrency caps, retries and RunTask
// semantics (spec sections 3.3-3.4, 5 and 6).
//
// Pending tasks live in the store, not in memory: each queue has one
// scheduler goroutine (runner) that reads its next due tasks from the store
// in due order, a bounded window at a time, and one real-clock timer set to
// the queue's next due time. There is no goroutine or timer per pending
// task, so a million future tasks cost store space only. Changed wakes a
// queue's scheduler at once (it re-reads the queue's state and its due
// tasks), so creates, deletes, purges, pauses and resumes take effect
// without polling.
//
// A scheduler step takes as many buffered due tasks as the token bucket
// (golang.org/x/time/rate; refill max_dispatches_per_second, capacity
// max_burst_size) and the free concurrency slots allow, leases them all in
// one store write, and starts one goroutine per leased attempt (bounded by
// max_concurrent_dispatches, and by the dispatcher's slots, which queues
// short of them take in turn). The lease moves each task's due time to the
// end of its dispatch deadline plus a margin and records the attempt
// (dispatch_count, first/last_attempt), so the task is neither picked up
// twice nor lost: if the process dies, the store ends the leases on the
// next start (SQLite) or they run out (PostgreSQL), and the task is
// delivered again. Leasing checks the due time each task was read with, so
// a task deleted, purged or run by RunTask since it was read is skipped.
//
// Outcomes go to one completer goroutine, which writes all that have
// arrived in one CompleteTasks call: a 2xx deletes the task and tombstones
// its name; a failure records the response and reschedules the task with
// the backoff formula, unless both max_attempts and max_retry_duration are
// used up. A 429 or 503 doubles the task's delay, honours Retry-After and
// halves the queue's effective rate, which recovers gradually (throttle).
//
// A task lives 31 days from its creation (spec 4.5): a retry that would
// fall later ends it, and a task its scheduler reads past that age (one
// that waited in a paused queue or a backlog) is deleted, not delivered.
//
// RunTask (Run) leases the task whatever its due time, so the scheduler
// will not deliver it again at its old schedule_time, returns it as
// dispatched and delivers it outside the queue's limits; a failure
// reschedules it at the call time plus the retry delay.
//
// On a store that several processes share (store.Cluster), Start runs
// RunNode instead of scheduling every queue: a queue has a scheduler only
// while this node owns it (QueueAcquired starts one, QueueLost stops it
// between steps, leaving its attempts in flight to finish), so that rate
// limits and concurrency caps hold across the cluster. Changed and the
// completer never start a scheduler for a queue another node owns; that
// node hears of new tasks through QueueWake. Run works on any node, since
// the task lease alone keeps the owner from delivering the task again.
package dispatch
