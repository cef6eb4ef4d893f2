// Package store defines the durable state of OpenTasks behind one interface,
// so that the API layer and the dispatcher never see SQL.
package store

import (
	"context"
	"errors"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
)

// Errors every backend returns for the same conditions; callers test them
// with errors.Is and turn them into the API's status codes.
var (
	// ErrNotFound: the queue, task or record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists: a queue or task with that name exists.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrTombstoned: the name belonged to a queue or task that was deleted
	// (or completed) recently and cannot be used or looked up yet.
	ErrTombstoned = errors.New("store: name existed recently")
	// ErrQueueNotFound: a task operation named a queue that does not exist.
	ErrQueueNotFound = errors.New("store: queue not found")
)

// Task is a stored task: the API's Task in its FULL form, plus what the
// dispatcher needs that the API does not show.
type Task struct {
	// Queue is the full name of the task's queue and ID the last segment
	// of the task's name; Task.Name is always Queue + "/tasks/" + ID.
	Queue string
	ID    string
	Task  *cloudtaskspb.Task
	// Created is the creation time at full (microsecond) precision;
	// Task.CreateTime is truncated to the second, too coarse for purges.
	Created time.Time
	// ExecutionCount counts earlier attempts that got a response that was
	// not a 5xx (the X-CloudTasks-TaskExecutionCount header).
	ExecutionCount int32
	// Due is when the dispatcher may next take the task (see Dispatch);
	// only DueTasks sets it.
	Due time.Time
	// Snapshot is what DueTasks knew of the store's state when it read
	// the task, handed back in Lease.Snapshot; only the backend reads it.
	Snapshot uint64
}

// Store is implemented by every backend (store/sqlite, store/postgres) and
// checked by the shared suite in store/storetest. Every write is durable
// when its method returns nil. Times are stored with microsecond precision.
type Store interface {
	// CreateQueue stores a new queue. ErrAlreadyExists if it exists,
	// ErrTombstoned if a queue of that name was deleted before
	// its tombstone expired.
	CreateQueue(ctx context.Context, q *cloudtaskspb.Queue) error
	// GetQueue returns the queue or ErrNotFound.
	GetQueue(ctx context.Context, name string) (*cloudtaskspb.Queue, error)
	// UpdateQueue reads the queue (nil when it does not exist), calls fn,
	// and stores what fn returns, all in one transaction; an error from fn
	// is returned as is. Creating a tombstoned queue this way fails with
	// ErrTombstoned before fn is called.
	UpdateQueue(ctx context.Context, name string, fn func(cur *cloudtaskspb.Queue) (*cloudtaskspb.Queue, error)) (*cloudtaskspb.Queue, error)
	// DeleteQueue removes the queue, its tasks and its records of kind
	// KindQueuePolicy, and keeps the name tombstoned until tombstoneUntil.
	// ErrNotFound if it does not exist.
	DeleteQueue(ctx context.Context, name string, tombstoneUntil time.Time) error
	// PurgeQueue deletes every task of the queue created before at
	// (tombstoning their names until tombstoneUntil), sets purge_time to
	// at, and returns the queue. ErrNotFound if it does not exist.
	PurgeQueue(ctx context.Context, name string, at, tombstoneUntil time.Time) (*cloudtaskspb.Queue, error)
	// ListQueues returns up to limit queues whose names start with
	// parent+"/queues/" and sort after "after", in name order.
	ListQueues(ctx context.Context, parent, after string, limit int) ([]*cloudtaskspb.Queue, error)

	// CreateTask stores a new task. ErrQueueNotFound if its queue does not
	// exist, ErrAlreadyExists if a task of that name exists or is
	// tombstoned. It keeps no reference to t once it returns: the
	// service shapes the created task it answers with in place.
	CreateTask(ctx context.Context, t *Task) error
	// GetTask returns the task, ErrTombstoned if it was deleted or
	// completed recently, or ErrNotFound.
	GetTask(ctx context.Context, queue, id string) (*Task, error)
	// DeleteTask removes the task and tombstones its name until
	// tombstoneUntil. ErrNotFound if it does not exist (tombstoned or not).
	DeleteTask(ctx context.Context, queue, id string, tombstoneUntil time.Time) error
	// ListTasks returns up to limit tasks of the queue whose IDs sort after
	// "after", in ID order.
	ListTasks(ctx context.Context, queue, after string, limit int) ([]*Task, error)

	// GetRecord returns the value stored under (kind, key) or ErrNotFound.
	GetRecord(ctx context.Context, kind, key string) ([]byte, error)
	// UpdateRecord reads the value under (kind, key) (nil when absent),
	// calls fn and stores what it returns, in one transaction; a nil result
	// deletes the record. An error from fn is returned as is.
	UpdateRecord(ctx context.Context, kind, key string, fn func(cur []byte) ([]byte, error)) error

	Dispatch

	// Close releases the store; calls after Close fail.
	Close() error
}

// Dispatch is the part of Store that only the dispatcher (internal/dispatch)
// uses. Every task has a due time: its schedule_time while it waits, the end
// of its lease while an attempt is in flight. A lease is a time-limited claim
// written before the attempt starts, so that a task is neither taken twice
// nor lost: if its holder dies, the lease simply runs out and the task is
// due again (at least once delivery). Leases and completions are batched:
// one call, one durable write, many tasks.
type Dispatch interface {
	// AllQueues returns up to limit queues of every project and location
	// whose names sort after "after", in name order.
	AllQueues(ctx context.Context, after string, limit int) ([]*cloudtaskspb.Queue, error)
	// DueTasks returns up to limit tasks of the queue whose due time is at
	// or before now, in due order (ties in ID order), each with Due set.
	// next is the due time of the first task not returned: at or before
	// now when more are due, zero when the queue has no other task.
	// ErrQueueNotFound if the queue does not exist.
	DueTasks(ctx context.Context, queue string, now time.Time, limit int) (due []*Task, next time.Time, err error)
	// LeaseTasks applies each lease whose task still exists and, unless
	// Lease.Due is zero, still has due time Lease.Due: it sets the task's
	// due time to Until and stores the attempt that Lease.Task records
	// (dispatch_count, first_attempt, last_attempt) and ExecutionCount;
	// reads show the task so from then on.
	// ok[i] reports whether leases[i] was applied. A backend that several
	// processes share (postgres) makes the applied leases durable before
	// it returns; one that a single process owns (sqlite) may keep them in
	// memory, since a restart would end them anyway (RecoverLeases).
	LeaseTasks(ctx context.Context, leases []Lease) (ok []bool, err error)
	// CompleteTasks applies each completion whose task still exists and,
	// unless Completion.Force, still has due time Completion.Lease (no
	// later attempt has leased it): Delete removes the task and tombstones
	// its name until TombstoneUntil; otherwise the task is stored as
	// Completion.Task with ExecutionCount and becomes due at its
	// schedule_time. ok[i] reports whether cs[i] was applied. One durable
	// write covers all of them.
	CompleteTasks(ctx context.Context, cs []Completion) (ok []bool, err error)
	// RecoverLeases is called once when dispatching starts. A backend that
	// one process owns (sqlite) ends every lease it kept, making each
	// leased task due again at the due time it had before the lease, since
	// no attempt can still be in flight. A backend that several processes share
	// (postgres) must do nothing and return 0: a lease may belong to a live
	// node, and a dead node's leases run out by themselves. It returns how
	// many leases it ended.
	RecoverLeases(ctx context.Context) (int, error)
}

// Lease claims a task for one attempt (see Dispatch.LeaseTasks).
type Lease struct {
	Queue, ID string
	// Due is the due time the task was read with (Task.Due); zero leases
	// the task whatever its due time (RunTask).
	Due time.Time
	// Snapshot is the task's Task.Snapshot, zero with a zero Due. A
	// backend may use it to tell, without reading, that the task has not
	// changed since it was read.
	Snapshot uint64
	// Until is the lease's end: the attempt's deadline plus a margin.
	Until time.Time
	// Task is the task as read, with the attempt's start recorded
	// (dispatch_count, first_attempt, last_attempt).
	Task           *cloudtaskspb.Task
	ExecutionCount int32
}

// Completion is the outcome of an attempt (see Dispatch.CompleteTasks).
type Completion struct {
	Queue, ID string
	// Lease is the due time the attempt's lease set (Lease.Until).
	Lease time.Time
	// Force applies the completion even if another attempt leased the
	// task since: a success ends the task whoever else is running it.
	Force bool
	// Delete ends the task (success or permanent failure).
	Delete         bool
	TombstoneUntil time.Time
	// Task (with the new schedule_time) and ExecutionCount are stored when
	// the task is rescheduled.
	Task           *cloudtaskspb.Task
	ExecutionCount int32
}

// Kinds of records kept with GetRecord and UpdateRecord.
const (
	KindQueuePolicy = "iam-policy"  // key: queue name; value: google.iam.v1.Policy
	KindCmekConfig  = "cmek"        // key: location name; value: CmekConfig
	KindOperation   = "operation"   // key: operation name; value: google.longrunning.Operation
	KindSigningKey  = "signing-key" // key: key use ("oidc"); value: PKCS #8 DER private key
)
