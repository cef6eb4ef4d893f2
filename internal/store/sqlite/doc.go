// Package sqlite is the embedded storage backend of OpenTasks: one SQLite
// file in WAL mode, through the pure-Go modernc.org/sqlite driver, so the
// binary builds with CGO_ENABLED=0.
//
// Durability and throughput pull against each other: SQLite with
// synchronous=FULL fsyncs the WAL on every commit, and one commit per
// CreateTask would cap the server at the disk's fsync rate. So every write
// goes through a single writer goroutine that owns the only write
// connection and practises group commit: it takes one waiting operation,
// drains every other operation queued behind it, runs them all in one
// transaction and commits once. Callers return only after that commit, so
// each acknowledged write is on disk, and under load one fsync covers
// hundreds of writes (the queue itself is store/groupcommit, shared with
// the PostgreSQL backend). Operations run in order, so the writer can keep
// small caches (queue name to row id) that are always current. Creates
// that follow each other in a batch are one multi-row insert (createTasks).
//
// An operation that fails with an error of the API's (already exists, not
// found) has written nothing. Any other error aborts the batch, which is
// then re-run one operation per transaction so that one bad write cannot
// fail its neighbours.
//
// The API's reads use a separate pool of read-only connections; WAL lets
// them run beside the writer and see every committed batch. The
// dispatcher's reads run on the writer's connection instead, at the start
// of a batch (writer.read): SQLite empties a connection's page cache
// whenever another connection commits, so under a stream of commits a
// pool connection fetches every page it touches from the file again,
// while the writer's cache stays warm. Tasks are stored in (queue, ID)
// order, and generated IDs are time-ordered, so a queue's due tasks share
// pages.
//
// Leases live in memory (see leases), and leasing a task checks that it
// is still as DueTasks read it by comparing per-queue change counts, not
// by reading it again.
package sqlite
