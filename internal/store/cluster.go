package store

import (
	"context"
	"time"
)

// Cluster is implemented by backends that several server processes share
// (store/postgres). A dispatcher detects it with a type assertion; when the
// store is a Cluster, the dispatcher runs RunNode and dispatches only the
// queues this node owns, so that rate limits and concurrency caps hold
// across the cluster. Without it (store/sqlite) one process owns every
// queue.
//
// Ownership never decides whether a task is delivered twice: that is the
// task leases' job (LeaseTasks compares due times), so RunTask may lease and
// dispatch a task on any node, and a queue briefly owned by two nodes during
// a handover delivers nothing twice.
type Cluster interface {
	// RunNode makes this process a node of the cluster until ctx ends. It
	// announces the node, takes its share of the queues (spread over the
	// live nodes), renews its lease on them, takes over the queues of nodes
	// that stop renewing, and reports each change by calling on, from one
	// goroutine; on must not block. A node that cannot renew reports
	// QueueLost before its lease can expire in the database. On return
	// every queue has been reported lost and released, so that other nodes
	// take them at once. Database errors are retried, not returned: it
	// returns ctx's error, or an error if RunNode is already running or the
	// store is closed.
	RunNode(ctx context.Context, on func(ClusterEvent)) error
}

// ClusterEvent is one change reported by Cluster.RunNode.
type ClusterEvent struct {
	Kind  ClusterEventKind
	Queue string // the queue's full name
	// Due is, for QueueWake, the earliest due time of the tasks another
	// node created or rescheduled; zero when the queue itself was changed
	// (created, updated, paused, resumed, purged or deleted) on some node
	// and should be read again.
	Due time.Time
}

// ClusterEventKind says what a ClusterEvent reports.
type ClusterEventKind int

const (
	// QueueAcquired: this node now dispatches the queue. Tasks that a
	// previous owner had in flight are due again when their leases end.
	QueueAcquired ClusterEventKind = iota + 1
	// QueueLost: this node must stop dispatching the queue (attempts in
	// flight may finish and complete normally).
	QueueLost
	// QueueWake: another node changed the queue or its tasks; reported
	// only for queues this node owns.
	QueueWake
)
