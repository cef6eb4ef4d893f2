package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/postgres"
)

// logBuffer collects a store's log lines, written from its goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// logged returns a store option that logs to a buffer, and the buffer.
func logged() (postgres.Option, *logBuffer) {
	var l logBuffer
	return postgres.WithLogger(slog.New(slog.NewTextHandler(&l, nil))), &l
}

// retried is what the writer logs when it runs a batch again.
const retried = "running a write batch again"

// createTasks creates n tasks t0000, t0001, ... on a new queue name.
func createTasks(t *testing.T, s store.Store, name string, n int, now time.Time) {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateQueue(ctx, &cloudtaskspb.Queue{Name: name}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprintf("t%04d", i)
		task := &cloudtaskspb.Task{Name: name + "/tasks/" + id, ScheduleTime: timestamppb.New(now)}
		if err := s.CreateTask(ctx, &store.Task{Queue: name, ID: id, Task: task, Created: now}); err != nil {
			t.Fatal(err)
		}
	}
}

// deletions returns completions that end tasks t0000... of queue name, in
// the order of ids.
func deletions(name string, ids []int, now time.Time) []store.Completion {
	cs := make([]store.Completion, len(ids))
	for i, id := range ids {
		cs[i] = store.Completion{Queue: name, ID: fmt.Sprintf("t%04d", id), Force: true, Delete: true,
			TombstoneUntil: now.Add(time.Hour)}
	}
	return cs
}

func countdown(n int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = n - 1 - i
	}
	return ids
}

// TestCompletionsBesideQueueRemoval writes a batch of outcomes for a
// queue's tasks, in the reverse of their order in the table, while the
// queue is deleted or purged in a transaction of its own. Without one lock
// order the two lock the same task rows from opposite ends and PostgreSQL
// aborts one of them with a deadlock (40P01); the outcomes must instead be
// written, or find their tasks already gone, every round.
func TestCompletionsBesideQueueRemoval(t *testing.T) {
	t.Parallel()
	logOpt, log := logged()
	s := open(t, schemaURL(t), logOpt)
	ctx := context.Background()
	const (
		rounds = 6
		tasks  = 300
	)
	now := time.Now()
	for round := range rounds {
		purge := round%2 == 1
		name := fmt.Sprintf("projects/p/locations/l/queues/q%d", round)
		createTasks(t, s, name, tasks, now)
		cs := deletions(name, countdown(tasks), now)
		start := make(chan struct{})
		removed := make(chan error, 1)
		go func() {
			<-start
			if purge {
				_, err := s.PurgeQueue(ctx, name, now.Add(time.Second), now.Add(time.Hour))
				removed <- err
				return
			}
			removed <- s.DeleteQueue(ctx, name, now.Add(time.Hour))
		}()
		close(start)
		ok, err := s.CompleteTasks(ctx, cs)
		if err := <-removed; err != nil {
			t.Fatalf("round %d: removing the queue (purge %v): %v", round, purge, err)
		}
		if err != nil {
			t.Fatalf("round %d: completing %d tasks beside a removal of their queue (purge %v): %v", round, tasks, purge, err)
		}
		if len(ok) != tasks {
			t.Fatalf("round %d: %d outcomes for %d completions", round, len(ok), tasks)
		}
		// Whoever went first, no task is left.
		if left, err := s.ListTasks(ctx, name, "", tasks); err != nil && !errors.Is(err, store.ErrQueueNotFound) {
			t.Fatal(err)
		} else if len(left) != 0 {
			t.Fatalf("round %d: %d tasks left after completion and removal", round, len(left))
		}
	}
	// The lock order, not the retry, keeps the two apart.
	if strings.Contains(log.String(), retried) {
		t.Fatalf("a batch beside a queue's removal deadlocked and was run again:\n%s", log)
	}
}

// TestOpposedCompletionsOnTwoNodes has two stores (nodes) end the same
// tasks at once in opposite orders, as a node's dispatcher and another
// node's DeleteTask calls may. Both batches hold the queue row (KEY SHARE
// does not conflict), so only the order of task rows keeps them from
// deadlocking.
func TestOpposedCompletionsOnTwoNodes(t *testing.T) {
	t.Parallel()
	dbURL := schemaURL(t)
	logOpt, log := logged()
	a, b := open(t, dbURL, logOpt), open(t, dbURL, logOpt)
	ctx := context.Background()
	const (
		rounds = 6
		tasks  = 300
	)
	now := time.Now()
	up := make([]int, tasks)
	for i := range up {
		up[i] = i
	}
	for round := range rounds {
		name := fmt.Sprintf("projects/p/locations/l/queues/q%d", round)
		createTasks(t, a, name, tasks, now)
		start := make(chan struct{})
		type result struct {
			ok  []bool
			err error
		}
		other := make(chan result, 1)
		go func() {
			<-start
			ok, err := b.CompleteTasks(ctx, deletions(name, countdown(tasks), now))
			other <- result{ok, err}
		}()
		close(start)
		okA, err := a.CompleteTasks(ctx, deletions(name, up, now))
		if err != nil {
			t.Fatalf("round %d: node a completing: %v", round, err)
		}
		r := <-other
		if r.err != nil {
			t.Fatalf("round %d: node b completing: %v\n%s", round, r.err, log)
		}
		// Each task was ended by exactly one of the two.
		for i := range tasks {
			if okA[i] == r.ok[tasks-1-i] {
				t.Fatalf("round %d: task t%04d ended by a: %v, by b: %v", round, i, okA[i], r.ok[tasks-1-i])
			}
		}
	}
	if strings.Contains(log.String(), retried) {
		t.Fatalf("opposed batches deadlocked and were run again:\n%s", log)
	}
}

// TestBatchLosingDeadlockRunsAgain makes a write batch lose a deadlock
// that no lock order of the store can prevent (another client locks two
// of its task rows in the opposite order, and waits longer before it
// looks for deadlocks, so PostgreSQL aborts the batch). The batch must
// run again and apply its outcomes rather than leave its tasks leased.
func TestBatchLosingDeadlockRunsAgain(t *testing.T) {
	t.Parallel()
	dbURL := schemaURL(t)
	logOpt, log := logged()
	s := open(t, dbURL, logOpt)
	ctx := context.Background()
	const (
		name  = "projects/p/locations/l/queues/q"
		tasks = 10
	)
	now := time.Now()
	createTasks(t, s, name, tasks, now)

	tx := sideTx(t, dbURL)
	if _, err := tx.Exec(ctx, `SET LOCAL deadlock_timeout = '1min'`); err != nil {
		t.Skipf("cannot make the batch the deadlock's victim: %v", err)
	}
	lock := func(ids ...string) error {
		_, err := tx.Exec(ctx, `SELECT 1 FROM tasks WHERE id = ANY ($1) FOR UPDATE`, ids)
		return err
	}
	if err := lock("t0005"); err != nil {
		t.Fatal(err)
	}
	var pid int32
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	type result struct {
		ok  []bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		ok, err := s.CompleteTasks(ctx, deletions(name, countdown(tasks), now))
		done <- result{ok, err}
	}()
	// The batch, having deleted the tasks on one side of t0005 (which side
	// depends on the order it writes them in), waits for t0005:
	// PostgreSQL's own view of who waits for whom is the signal.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for waiting := 0; waiting == 0; {
		if err := tx.QueryRow(wctx, `SELECT count(*) FROM pg_stat_activity
			WHERE $1 = ANY (pg_blocking_pids(pid))`, pid).Scan(&waiting); err != nil {
			t.Fatalf("waiting for the batch to wait for this client: %v", err)
		}
	}
	// Now this client waits for the batch: a deadlock, which the batch's
	// server process detects first and ends by aborting the batch.
	if err := lock("t0000", "t0009"); err != nil {
		t.Fatalf("locking the batch's first task: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("completing a batch that lost a deadlock: %v", r.err)
	}
	for i, ok := range r.ok {
		if !ok {
			t.Errorf("completion %d not applied after the batch ran again", i)
		}
	}
	if !strings.Contains(log.String(), retried) {
		t.Fatalf("the batch never lost the deadlock; log:\n%s", log)
	}
}

// TestCreatesBesideQueueDeletion creates tasks in a queue while it is
// deleted: every task must be deleted with its queue or refused, never
// left behind in the table without its queue (tasks have no foreign key;
// the batch's lock on the queue row keeps them together).
func TestCreatesBesideQueueDeletion(t *testing.T) {
	t.Parallel()
	dbURL := schemaURL(t)
	s := open(t, dbURL)
	ctx := context.Background()
	now := time.Now()
	const rounds, creates = 10, 32
	for round := range rounds {
		name := fmt.Sprintf("projects/p/locations/l/queues/q%d", round)
		if err := s.CreateQueue(ctx, &cloudtaskspb.Queue{Name: name}); err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		errs := make(chan error, creates)
		for i := range creates {
			go func() {
				<-start
				id := fmt.Sprintf("t%04d", i)
				task := &cloudtaskspb.Task{Name: name + "/tasks/" + id, ScheduleTime: timestamppb.New(now)}
				errs <- s.CreateTask(ctx, &store.Task{Queue: name, ID: id, Task: task, Created: now})
			}()
		}
		close(start)
		if err := s.DeleteQueue(ctx, name, now.Add(time.Hour)); err != nil {
			t.Fatalf("round %d: deleting the queue: %v", round, err)
		}
		for range creates {
			if err := <-errs; err != nil && !errors.Is(err, store.ErrQueueNotFound) {
				t.Fatalf("round %d: creating beside the queue's deletion: %v", round, err)
			}
		}
	}
	noOrphans(t, dbURL)
}

// TestCreateIntoQueueMadeDuringItsBatch creates a task into a queue that
// another client creates after the batch has locked its queue rows (so
// the batch could not lock it), and deletes that queue before the batch
// commits. The task must be deleted with its queue, not left behind
// without it: the create must hold the queue row it inserts under, as
// DeleteQueue does not see uncommitted tasks.
func TestCreateIntoQueueMadeDuringItsBatch(t *testing.T) {
	t.Parallel()
	dbURL := schemaURL(t)
	s := open(t, dbURL)
	ctx := context.Background()
	now := time.Now()
	const p = "projects/p/locations/l/queues/"
	a, b, c := p+"a", p+"b", p+"c"
	createTasks(t, s, a, 1, now)
	createTasks(t, s, c, 1, now)
	// Two clients hold the batch up: one inserts a/new, which the batch's
	// first statement creates too, and one holds c's task, which its
	// last statement leases. Creating a/new twice makes the second create
	// start a statement of its own, with b/x. PostgreSQL's view of who
	// waits for whom is the signal that the batch has got that far.
	txA := sideTx(t, dbURL)
	var pidA int32
	if err := txA.QueryRow(ctx, `INSERT INTO tasks (queue_id, id, due, created, data)
		SELECT id, 'new', 0, 0, '' FROM queues WHERE name = $1 RETURNING pg_backend_pid()`, a).Scan(&pidA); err != nil {
		t.Fatal(err)
	}
	txC := sideTx(t, dbURL)
	var pidC int32
	if err := txC.QueryRow(ctx, `SELECT pg_backend_pid() FROM tasks t JOIN queues q ON q.id = t.queue_id
		WHERE q.name = $1 FOR UPDATE OF t`, c).Scan(&pidC); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	waiter := func(tx pgx.Tx, pid int32) (int32, error) {
		var w int32
		err := tx.QueryRow(wctx, `SELECT coalesce(min(pid), 0) FROM pg_stat_activity
			WHERE $1 = ANY (pg_blocking_pids(pid))`, pid).Scan(&w)
		return w, err
	}
	created := make(chan error, 1)
	go func() {
		outcomes, err := postgres.Batch(ctx, s, now,
			postgres.Write{Kind: "create", Queue: a, ID: "new"}, postgres.Write{Kind: "create", Queue: a, ID: "new"},
			postgres.Write{Kind: "create", Queue: b, ID: "x"}, postgres.Write{Kind: "reschedule", Queue: c, ID: "t0000"})
		if err == nil {
			err = outcomes[2]
		}
		created <- err
	}()
	var writer int32
	for writer == 0 {
		var err error
		if writer, err = waiter(txA, pidA); err != nil {
			t.Fatalf("waiting for the batch to reach a's task: %v", err)
		}
	}
	// The batch has locked its queue rows; b comes into being now.
	if _, err := s.UpdateQueue(ctx, b, func(*cloudtaskspb.Queue) (*cloudtaskspb.Queue, error) {
		return &cloudtaskspb.Queue{Name: b}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := txA.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for w := int32(0); w != writer; {
		var err error
		if w, err = waiter(txC, pidC); err != nil {
			t.Fatalf("waiting for the batch to reach c's task: %v", err)
		}
	}
	// The batch has run its create. b is deleted now: DeleteQueue either
	// waits for the batch or (the defect) finishes before it commits.
	deleted := make(chan error, 1)
	go func() { deleted <- s.DeleteQueue(ctx, b, now.Add(time.Hour)) }()
	var delErr error
	for waiting := false; !waiting; {
		select {
		case delErr = <-deleted:
			deleted = nil
			waiting = true
			continue
		default:
		}
		var n int
		if err := txC.QueryRow(wctx, `SELECT count(*) FROM pg_stat_activity
			WHERE $1 = ANY (pg_blocking_pids(pid))`, writer).Scan(&n); err != nil {
			t.Fatalf("waiting for the queue's deletion: %v", err)
		}
		waiting = n > 0
	}
	if err := txC.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-created; err != nil && !errors.Is(err, store.ErrQueueNotFound) {
		t.Fatalf("creating into the new queue: %v", err)
	}
	if deleted != nil {
		delErr = <-deleted
	}
	if delErr != nil {
		t.Fatalf("deleting the new queue: %v", delErr)
	}
	noOrphans(t, dbURL)
}

// noOrphans fails t if any task in dbURL's schema has no queue.
func noOrphans(t *testing.T, dbURL string) {
	t.Helper()
	var orphans int
	if err := sideTx(t, dbURL).QueryRow(context.Background(), `SELECT count(*) FROM tasks t
		WHERE NOT EXISTS (SELECT 1 FROM queues q WHERE q.id = t.queue_id)`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Fatalf("%d tasks outlived their deleted queue", orphans)
	}
}
