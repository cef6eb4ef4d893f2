// Package soak runs a long mixed load against an OpenTasks server and
// checks that no acknowledged task is lost (opentasks soak).
//
// It drives 64 queues (by default) through the official Go client: tasks
// are created at a bounded rate with schedule times up to two seconds
// ahead, and among the creates some tasks are deleted, some run with
// RunTask, some queues paused and resumed, and some purged. A share of
// the queues deliver to targets that fail each task's first attempt in
// one way (no answer until the deadline, 500, 503 with Retry-After, a
// reset connection) and answer 200 to its retries, so every task can end
// delivered; the other queues' target answers 200 at once. Each target is
// its own host, as a faulty partner API would be.
//
// Every task whose CreateTask returned OK is recorded, with what became of
// it: answered 200 by a target, deleted by a DeleteTask that returned OK,
// or acknowledged before a PurgeQueue of its queue began (creates and the
// purge of one queue exclude each other, so that this is exact). At the
// end the load stops, every queue is resumed, and once all queues are
// empty (or the settle time runs out) a task with none of the three is
// lost. A task answered 200 twice is a duplicate; RunTask on a task whose
// scheduled attempt is in flight makes one legitimately, so those are
// counted apart.
//
// While it runs it prints the server's resident memory, open files and
// goroutines at each report interval, and at the end their growth since
// the end of the warm-up (the first fifth of the run).
package soak
