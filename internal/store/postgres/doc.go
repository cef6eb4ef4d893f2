// Package postgres is the PostgreSQL backend of OpenTasks, through pgx v5,
// for several server processes sharing one database. Open it with a URL:
//
//	postgres://user@host:5432/db?sslmode=disable&search_path=opentasks
//
// The schema lives in embedded, numbered migrations (migrations/*.sql),
// applied on Open under a session advisory lock keyed by the schema, so
// that nodes starting together take turns and each migration runs once;
// opentasks_migrations records what was applied. Times are microseconds
// since the Unix epoch in BIGINT columns, as in the SQLite backend, and
// names compare byte-wise (COLLATE "C") whatever the database's collation.
//
// Writes are durable when they return: connections run with
// synchronous_commit=on unless the URL names another level. Throughput
// comes from group commit, as in store/sqlite: the frequent writes
// (CreateTask, DeleteTask, CreateQueue, LeaseTasks, CompleteTasks) are
// queued to one writer goroutine, which sends everything waiting as one
// pipelined pgx.Batch on a connection of its own. PostgreSQL runs a batch
// as one implicit transaction and commits it once, so a group costs one
// round trip and one WAL flush. Within a batch, the writes of one kind
// (task creations; leases and retries; deletions and ends of tasks) go as
// one statement over arrays, one element per write (sql/*_tasks.sql):
// PostgreSQL's work per statement, not per row, was most of its CPU.
// Because one failed statement aborts a PostgreSQL transaction, each of
// these statements never fails for an expected reason: conflicts are ON
// CONFLICT DO NOTHING, and the statement returns a row per write saying
// what happened (queue missing, name tombstoned, already exists) for the
// caller to turn into the store's errors. If a
// batch fails anyway, each caller's writes are re-run alone. Rare,
// interactive or possibly large writes (UpdateQueue, UpdateRecord,
// DeleteQueue, PurgeQueue) run in transactions of their own; the
// read-modify-write ones serialise per name with a transaction advisory
// lock, since FOR UPDATE cannot lock a row that does not exist yet. A
// write batch holds the row of each queue whose tasks it writes (FOR KEY
// SHARE to insert them, FOR NO KEY UPDATE to update or delete them), and
// DeleteQueue deletes the queue's row before its tasks, so a task can
// never outlive a concurrently deleted queue. There is no foreign key
// from tasks to queues: its trigger checked the queue row for every
// inserted task, a third of the insert's work.
//
// RunNode (store.Cluster) spreads the dispatching of queues over the live
// nodes. Each node renews a heartbeat row (nodes) and a lease per queue
// it owns (queue_owners), both judged by the database's clock, every
// quarter of the lease TTL. Every node assigns each queue to one live node
// by rendezvous hashing, so they agree without talking and a node joining
// or leaving moves only its share; a node claims a queue only when the
// queue's lease is its own or has run out, so the database never records
// two owners. A node that fails to renew reports its queues lost before
// its leases can end in the database; a node that stops gracefully deletes
// its rows so that the others take over at once. Ownership only keeps rate
// limits and concurrency caps cluster-wide: the task leases (LeaseTasks
// compares due times) are what prevents double delivery, so RunTask can
// lease and deliver a task on any node.
//
// Wake-ups travel by LISTEN/NOTIFY on a channel per schema. A write batch
// that creates or reschedules tasks of a queue this node does not own
// ends with one pg_notify per queue (the earliest due time); queue changes
// are always announced. PostgreSQL delivers notifications at commit, so a
// node woken reads committed state. Each node keeps one connection
// listening and turns notifications for the queues it owns into
// store.QueueWake events.
package postgres
