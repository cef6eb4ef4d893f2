package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store"
)

// dueTask creates a task of q due at due.
func dueTask(t *testing.T, s store.Store, q *cloudtaskspb.Queue, id string, due time.Time) *store.Task {
	t.Helper()
	tk := task(q, id, epoch)
	tk.Task.ScheduleTime = timestamppb.New(due)
	mustCreateTask(t, s, tk)
	return tk
}

func mustDue(t *testing.T, s store.Store, q string, now time.Time, limit int) ([]*store.Task, time.Time) {
	t.Helper()
	due, next, err := s.DueTasks(context.Background(), q, now, limit)
	if err != nil {
		t.Fatalf("DueTasks(%s): %v", q, err)
	}
	return due, next
}

func ids(ts []*store.Task) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return fmt.Sprint(out)
}

// leased returns the lease that claims tk (as read by DueTasks) until until,
// recording one more dispatch, at tk's due time.
func leased(tk *store.Task, until time.Time) store.Lease {
	pb := proto.Clone(tk.Task).(*cloudtaskspb.Task)
	pb.DispatchCount++
	pb.LastAttempt = &cloudtaskspb.Attempt{ScheduleTime: pb.ScheduleTime, DispatchTime: timestamppb.New(tk.Due)}
	return store.Lease{Queue: tk.Queue, ID: tk.ID, Due: tk.Due, Snapshot: tk.Snapshot, Until: until, Task: pb, ExecutionCount: tk.ExecutionCount}
}

func testAllQueues(t *testing.T, s store.Store, _ *Clock) {
	a, b := queue("a"), queue("b")
	c := queue("c")
	c.Name = "projects/other/locations/europe-west1/queues/c"
	for _, q := range []*cloudtaskspb.Queue{b, c, a} {
		mustCreateQueue(t, s, q)
	}
	got, err := s.AllQueues(context.Background(), "", 2)
	if err != nil || len(got) != 2 || got[0].Name != c.Name || got[1].Name != a.Name {
		t.Fatalf("AllQueues(first 2) = %v, %v; want %s, %s", got, err, c.Name, a.Name)
	}
	got, err = s.AllQueues(context.Background(), a.Name, 10)
	if err != nil || len(got) != 1 || got[0].Name != b.Name {
		t.Fatalf("AllQueues(after %s) = %v, %v; want %s", a.Name, got, err, b.Name)
	}
}

func testDueTasks(t *testing.T, s store.Store, _ *Clock) {
	q := queue("q")
	mustCreateQueue(t, s, q)
	now := epoch.Add(time.Minute)
	_, next := mustDue(t, s, q.Name, now, 10)
	if !next.IsZero() {
		t.Fatalf("empty queue: next = %v, want zero", next)
	}
	dueTask(t, s, q, "c", epoch.Add(3*time.Second))
	dueTask(t, s, q, "a", epoch.Add(2*time.Second))
	dueTask(t, s, q, "b", epoch.Add(2*time.Second))
	dueTask(t, s, q, "later", now.Add(time.Hour))
	dueTask(t, s, q, "last", now.Add(2*time.Hour))
	due, next := mustDue(t, s, q.Name, now, 10)
	if ids(due) != "[a b c]" || !next.Equal(now.Add(time.Hour)) {
		t.Fatalf("DueTasks = %s, next %v; want [a b c] (due order, ties by ID), next %v", ids(due), next, now.Add(time.Hour))
	}
	if !due[2].Due.Equal(epoch.Add(3*time.Second)) || due[2].Task.GetHttpRequest().GetUrl() == "" {
		t.Fatalf("DueTasks task c = due %v, %v; want due %v and the full task", due[2].Due, due[2].Task, epoch.Add(3*time.Second))
	}
	due, next = mustDue(t, s, q.Name, now, 2)
	if ids(due) != "[a b]" || next.After(now) {
		t.Fatalf("DueTasks(limit 2) = %s, next %v; want [a b] and next at or before now", ids(due), next)
	}
	if _, _, err := s.DueTasks(context.Background(), loc+"/queues/missing", now, 10); err != store.ErrQueueNotFound {
		t.Fatalf("DueTasks(missing queue): %v, want ErrQueueNotFound", err)
	}
}

func testLeaseTasks(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	q := queue("q")
	mustCreateQueue(t, s, q)
	dueTask(t, s, q, "a", epoch)
	dueTask(t, s, q, "b", epoch)
	now := epoch.Add(time.Second)
	due, _ := mustDue(t, s, q.Name, now, 10)
	until := now.Add(time.Minute)
	stale := leased(due[1], until)
	stale.Due, stale.Snapshot = epoch.Add(-time.Second), 0 // not the due time it was read with
	ok, err := s.LeaseTasks(ctx, []store.Lease{leased(due[0], until), stale})
	if err != nil || len(ok) != 2 || !ok[0] || ok[1] {
		t.Fatalf("LeaseTasks(fresh, stale) = %v, %v; want [true false]", ok, err)
	}
	got, next := mustDue(t, s, q.Name, now, 10)
	if ids(got) != "[b]" || !next.Equal(until) {
		t.Fatalf("after lease DueTasks = %s, next %v; want [b], next %v (the lease end)", ids(got), next, until)
	}
	stored, err := s.GetTask(ctx, q.Name, "a")
	if err != nil || stored.Task.DispatchCount != 1 || !stored.Task.GetLastAttempt().GetDispatchTime().AsTime().Equal(due[0].Due) {
		t.Fatalf("leased task = %v, %v; want dispatch_count 1 and the attempt dispatched at %v", stored, err, due[0].Due)
	}
	// A forced lease (RunTask) takes the task even while it is leased.
	again := leased(stored, now.Add(2*time.Minute))
	again.Due = time.Time{}
	ok, err = s.LeaseTasks(ctx, []store.Lease{again})
	if err != nil || !ok[0] {
		t.Fatalf("forced LeaseTasks = %v, %v; want [true]", ok, err)
	}
	if err := s.DeleteTask(ctx, q.Name, "b", epoch.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ok, err = s.LeaseTasks(ctx, []store.Lease{leased(due[1], until)})
	if err != nil || ok[0] {
		t.Fatalf("LeaseTasks(deleted task) = %v, %v; want [false]", ok, err)
	}
}

// testLeaseAfterChange reads a task as due, changes it behind the
// reader's back without deleting it, and checks that a lease from the old
// read no longer applies. Each case has a queue of its own.
func testLeaseAfterChange(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	now := epoch.Add(time.Second)
	until := now.Add(time.Minute)
	lease := func(l store.Lease) {
		t.Helper()
		if ok, err := s.LeaseTasks(ctx, []store.Lease{l}); err != nil || !ok[0] {
			t.Fatalf("LeaseTasks(%s) = %v, %v", l.ID, ok, err)
		}
	}
	complete := func(c store.Completion) {
		t.Helper()
		if ok, err := s.CompleteTasks(ctx, []store.Completion{c}); err != nil || !ok[0] {
			t.Fatalf("CompleteTasks(%s) = %v, %v", c.ID, ok, err)
		}
	}
	later := func(tk *store.Task) *cloudtaskspb.Task {
		pb := proto.Clone(tk.Task).(*cloudtaskspb.Task)
		pb.ScheduleTime = timestamppb.New(now.Add(time.Hour))
		return pb
	}
	forced := func(tk *store.Task) store.Lease {
		l := leased(tk, until)
		l.Due, l.Snapshot = time.Time{}, 0
		return l
	}
	// Each case changes the task read as due and returns the read that a
	// scheduler would then lease from.
	for _, c := range []struct {
		name   string
		change func(read *store.Task) *store.Task
	}{
		{"run-and-failed", func(tk *store.Task) *store.Task {
			lease(forced(tk))
			complete(store.Completion{Queue: tk.Queue, ID: tk.ID, Lease: until, Task: later(tk)})
			return tk
		}},
		{"run-and-succeeded", func(tk *store.Task) *store.Task {
			lease(forced(tk))
			complete(store.Completion{Queue: tk.Queue, ID: tk.ID, Lease: until, Force: true, Delete: true, TombstoneUntil: until})
			return tk
		}},
		{"lease-ran-out", func(tk *store.Task) *store.Task {
			lease(leased(tk, now))
			again, _ := mustDue(t, s, tk.Queue, now, 10)
			complete(store.Completion{Queue: tk.Queue, ID: tk.ID, Lease: now, Task: later(tk)})
			return again[0]
		}},
		{"succeeded-after-run", func(tk *store.Task) *store.Task {
			// RunTask takes over a scheduled attempt's lease and fails at
			// once; the task is due again when the first attempt succeeds.
			lease(leased(tk, until))
			lease(forced(tk))
			complete(store.Completion{Queue: tk.Queue, ID: tk.ID, Lease: until, Task: tk.Task})
			again, _ := mustDue(t, s, tk.Queue, now, 10)
			complete(store.Completion{Queue: tk.Queue, ID: tk.ID, Lease: until, Force: true, Delete: true, TombstoneUntil: until})
			return again[0]
		}},
	} {
		q := queue(c.name)
		mustCreateQueue(t, s, q)
		dueTask(t, s, q, "t", epoch)
		read, _ := mustDue(t, s, q.Name, now, 10)
		stale := c.change(read[0])
		if ok, err := s.LeaseTasks(ctx, []store.Lease{leased(stale, until)}); err != nil || ok[0] {
			t.Fatalf("%s: LeaseTasks(read before the change) = %v, %v; want [false]", c.name, ok, err)
		}
	}
}

func testCompleteTasks(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	q := queue("q")
	mustCreateQueue(t, s, q)
	for _, id := range []string{"ok", "retry", "stale", "forced"} {
		dueTask(t, s, q, id, epoch)
	}
	now := epoch.Add(time.Second)
	until := now.Add(time.Minute)
	due, _ := mustDue(t, s, q.Name, now, 10)
	leases := make([]store.Lease, len(due))
	for i, tk := range due {
		leases[i] = leased(tk, until)
	}
	if ok, err := s.LeaseTasks(ctx, leases); err != nil || fmt.Sprint(ok) != "[true true true true]" {
		t.Fatalf("LeaseTasks = %v, %v", ok, err)
	}
	byID := map[string]store.Lease{}
	for _, l := range leases {
		byID[l.ID] = l
	}
	retryAt := now.Add(10 * time.Second)
	retried := proto.Clone(byID["retry"].Task).(*cloudtaskspb.Task)
	retried.ScheduleTime = timestamppb.New(retryAt)
	tomb := epoch.Add(time.Hour)
	cs := []store.Completion{
		{Queue: q.Name, ID: "ok", Lease: until, Delete: true, TombstoneUntil: tomb},
		{Queue: q.Name, ID: "retry", Lease: until, Task: retried, ExecutionCount: 1},
		{Queue: q.Name, ID: "stale", Lease: until.Add(time.Second), Delete: true, TombstoneUntil: tomb},
		{Queue: q.Name, ID: "forced", Lease: until.Add(time.Second), Force: true, Delete: true, TombstoneUntil: tomb},
		{Queue: q.Name, ID: "never-existed", Lease: until, Delete: true, TombstoneUntil: tomb},
		// Forced, as a success is, beside the others of its queue.
		{Queue: q.Name, ID: "never-existed-forced", Force: true, Delete: true, TombstoneUntil: tomb},
	}
	ok, err := s.CompleteTasks(ctx, cs)
	if err != nil || fmt.Sprint(ok) != "[true true false true false false]" {
		t.Fatalf("CompleteTasks = %v, %v; want [true true false true false false]", ok, err)
	}
	_, err = s.GetTask(ctx, q.Name, "never-existed-forced")
	wantErr(t, "GetTask of a task that never existed, completed", err, store.ErrNotFound)
	for _, id := range []string{"ok", "forced"} {
		_, err := s.GetTask(ctx, q.Name, id)
		wantErr(t, "GetTask of completed "+id, err, store.ErrTombstoned)
	}
	wantErr(t, "CreateTask over a completed name", s.CreateTask(ctx, task(q, "ok", now)), store.ErrAlreadyExists)
	got, err := s.GetTask(ctx, q.Name, "retry")
	if err != nil || got.ExecutionCount != 1 || !got.Task.ScheduleTime.AsTime().Equal(retryAt) || got.Task.DispatchCount != 1 {
		t.Fatalf("rescheduled task = %v, %v; want exec_count 1, schedule_time %v, dispatch_count 1", got, err, retryAt)
	}
	if _, err := s.GetTask(ctx, q.Name, "stale"); err != nil {
		t.Fatalf("a completion with a stale lease removed the task: %v", err)
	}
	due, next := mustDue(t, s, q.Name, retryAt, 10)
	if ids(due) != "[retry]" || !due[0].Due.Equal(retryAt) || !next.Equal(until) {
		t.Fatalf("DueTasks at %v = %s (next %v); want [retry] due then, next %v", retryAt, ids(due), next, until)
	}
}

func testRecoverLeases(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	q := queue("q")
	mustCreateQueue(t, s, q)
	dueTask(t, s, q, "a", epoch)
	dueTask(t, s, q, "future", epoch.Add(time.Hour))
	now := epoch.Add(time.Second)
	due, _ := mustDue(t, s, q.Name, now, 10)
	if ok, err := s.LeaseTasks(ctx, []store.Lease{leased(due[0], now.Add(10*time.Minute))}); err != nil || !ok[0] {
		t.Fatalf("LeaseTasks = %v, %v", ok, err)
	}
	n, err := s.RecoverLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := mustDue(t, s, q.Name, now, 10)
	switch n {
	case 0: // a shared backend leaves leases to run out
		if len(got) != 0 {
			t.Fatalf("RecoverLeases ended no lease but DueTasks = %s", ids(got))
		}
	case 1:
		if ids(got) != "[a]" || !got[0].Due.Equal(epoch) {
			t.Fatalf("after RecoverLeases DueTasks = %s; want [a] due at its old due %v", ids(got), epoch)
		}
	default:
		t.Fatalf("RecoverLeases ended %d leases, want 1 (or 0)", n)
	}
}

// testDispatchBatches leases and completes many tasks per call.
func testDispatchBatches(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	q := queue("q")
	mustCreateQueue(t, s, q)
	const n = 500
	for i := range n {
		dueTask(t, s, q, fmt.Sprintf("t%04d", i), epoch.Add(time.Duration(i)*time.Microsecond))
	}
	now := epoch.Add(time.Second)
	due, _ := mustDue(t, s, q.Name, now, n)
	if len(due) != n {
		t.Fatalf("DueTasks returned %d tasks, want %d", len(due), n)
	}
	leases := make([]store.Lease, n)
	cs := make([]store.Completion, n)
	for i, tk := range due {
		leases[i] = leased(tk, now.Add(time.Minute))
		cs[i] = store.Completion{Queue: q.Name, ID: tk.ID, Lease: now.Add(time.Minute), Delete: true, TombstoneUntil: epoch.Add(time.Hour)}
	}
	if ok, err := s.LeaseTasks(ctx, leases); err != nil || len(ok) != n || !ok[n-1] {
		t.Fatalf("LeaseTasks(%d): %v", n, err)
	}
	if ok, err := s.CompleteTasks(ctx, cs); err != nil || len(ok) != n || !ok[n-1] || !ok[0] {
		t.Fatalf("CompleteTasks(%d): %v", n, err)
	}
	left, err := s.ListTasks(ctx, q.Name, "", 10)
	if err != nil || len(left) != 0 {
		t.Fatalf("after completing all: ListTasks = %d tasks, %v", len(left), err)
	}
}
