// Package storetest is the behaviour every store.Store backend must show.
// Each backend's tests call Run with a constructor for fresh, empty stores.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store"
)

// Clock is a settable clock for tombstone expiry.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// NewStore returns an empty store that judges tombstones by clock. The
// backend's test closes it at cleanup.
type NewStore func(t *testing.T, clock func() time.Time) store.Store

const loc = "projects/p/locations/us-central1"

var epoch = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// Run runs the whole suite.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store, *Clock)
	}{
		{"QueueLifecycle", testQueueLifecycle},
		{"QueueTombstone", testQueueTombstone},
		{"UpdateQueue", testUpdateQueue},
		{"ListQueues", testListQueues},
		{"TaskLifecycle", testTaskLifecycle},
		{"TaskTombstone", testTaskTombstone},
		{"TaskNeedsQueue", testTaskNeedsQueue},
		{"ListTasks", testListTasks},
		{"PurgeQueue", testPurgeQueue},
		{"DeleteQueueDropsTasks", testDeleteQueueDropsTasks},
		{"Records", testRecords},
		{"ConcurrentCreates", testConcurrentCreates},
		{"RacingCreates", testRacingCreates},
		{"AllQueues", testAllQueues},
		{"DueTasks", testDueTasks},
		{"LeaseTasks", testLeaseTasks},
		{"LeaseAfterChange", testLeaseAfterChange},
		{"CompleteTasks", testCompleteTasks},
		{"RecoverLeases", testRecoverLeases},
		{"DispatchBatches", testDispatchBatches},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewClock(epoch)
			tc.fn(t, newStore(t, clock.Now), clock)
		})
	}
}

func queue(id string) *cloudtaskspb.Queue {
	return &cloudtaskspb.Queue{
		Name:       loc + "/queues/" + id,
		State:      cloudtaskspb.Queue_RUNNING,
		RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 500, MaxBurstSize: 100, MaxConcurrentDispatches: 1000},
	}
}

func task(q *cloudtaskspb.Queue, id string, created time.Time) *store.Task {
	return &store.Task{
		Queue: q.Name,
		ID:    id,
		Task: &cloudtaskspb.Task{
			Name: q.Name + "/tasks/" + id,
			MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
				Url: "http://127.0.0.1:1/" + id, Body: []byte("body of " + id),
			}},
			ScheduleTime: timestamppb.New(created),
			CreateTime:   timestamppb.New(created.Truncate(time.Second)),
		},
		Created: created,
	}
}

func mustCreateQueue(t *testing.T, s store.Store, q *cloudtaskspb.Queue) {
	t.Helper()
	if err := s.CreateQueue(context.Background(), q); err != nil {
		t.Fatalf("CreateQueue(%s): %v", q.Name, err)
	}
}

func mustCreateTask(t *testing.T, s store.Store, tk *store.Task) {
	t.Helper()
	if err := s.CreateTask(context.Background(), tk); err != nil {
		t.Fatalf("CreateTask(%s): %v", tk.Task.Name, err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func testQueueLifecycle(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	q := queue("a")
	mustCreateQueue(t, s, q)
	wantErr(t, "second CreateQueue", s.CreateQueue(ctx, queue("a")), store.ErrAlreadyExists)
	got, err := s.GetQueue(ctx, q.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, q) {
		t.Fatalf("GetQueue = %v, want %v", got, q)
	}
	_, err = s.GetQueue(ctx, loc+"/queues/missing")
	wantErr(t, "GetQueue(missing)", err, store.ErrNotFound)
	if err := s.DeleteQueue(ctx, q.Name, epoch.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetQueue(ctx, q.Name)
	wantErr(t, "GetQueue after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteQueue twice", s.DeleteQueue(ctx, q.Name, epoch.Add(time.Hour)), store.ErrNotFound)
}

func testQueueTombstone(t *testing.T, s store.Store, clock *Clock) {
	ctx := context.Background()
	q := queue("a")
	mustCreateQueue(t, s, q)
	if err := s.DeleteQueue(ctx, q.Name, epoch.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "CreateQueue in tombstone", s.CreateQueue(ctx, queue("a")), store.ErrTombstoned)
	_, err := s.UpdateQueue(ctx, q.Name, func(cur *cloudtaskspb.Queue) (*cloudtaskspb.Queue, error) {
		t.Error("update function called for a tombstoned queue")
		return queue("a"), nil
	})
	wantErr(t, "UpdateQueue in tombstone", err, store.ErrTombstoned)
	clock.Advance(time.Hour)
	mustCreateQueue(t, s, queue("a"))
}

func testUpdateQueue(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	name := loc + "/queues/u"
	created, err := s.UpdateQueue(ctx, name, func(cur *cloudtaskspb.Queue) (*cloudtaskspb.Queue, error) {
		if cur != nil {
			t.Errorf("upsert of a missing queue saw %v", cur)
		}
		return queue("u"), nil
	})
	if err != nil || created.GetState() != cloudtaskspb.Queue_RUNNING {
		t.Fatalf("UpdateQueue(create) = %v, %v", created, err)
	}
	paused, err := s.UpdateQueue(ctx, name, func(cur *cloudtaskspb.Queue) (*cloudtaskspb.Queue, error) {
		cur.State = cloudtaskspb.Queue_PAUSED
		return cur, nil
	})
	if err != nil || paused.GetState() != cloudtaskspb.Queue_PAUSED {
		t.Fatalf("UpdateQueue(pause) = %v, %v", paused, err)
	}
	boom := errors.New("refused")
	_, err = s.UpdateQueue(ctx, name, func(cur *cloudtaskspb.Queue) (*cloudtaskspb.Queue, error) {
		return nil, boom
	})
	if err != boom {
		t.Fatalf("UpdateQueue with failing fn: got %v, want the fn's own error", err)
	}
	got, err := s.GetQueue(ctx, name)
	if err != nil || got.GetState() != cloudtaskspb.Queue_PAUSED {
		t.Fatalf("after refused update GetQueue = %v, %v; want PAUSED kept", got, err)
	}
}

func testListQueues(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	for _, id := range []string{"c", "a", "b", "a-1", "d"} {
		mustCreateQueue(t, s, queue(id))
	}
	other := queue("z")
	other.Name = "projects/p/locations/us-east1/queues/z"
	mustCreateQueue(t, s, other)
	var names []string
	after := ""
	for {
		page, err := s.ListQueues(ctx, loc, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, q := range page {
			names = append(names, q.Name)
		}
		after = page[len(page)-1].Name
	}
	want := fmt.Sprint([]string{loc + "/queues/a", loc + "/queues/a-1", loc + "/queues/b", loc + "/queues/c", loc + "/queues/d"})
	if fmt.Sprint(names) != want {
		t.Fatalf("ListQueues pages = %v, want %v", names, want)
	}
}

func testTaskLifecycle(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	q := queue("q")
	mustCreateQueue(t, s, q)
	created := epoch.Add(123456 * time.Microsecond)
	tk := task(q, "t1", created)
	tk.ExecutionCount = 3
	mustCreateTask(t, s, tk)
	wantErr(t, "duplicate CreateTask", s.CreateTask(ctx, task(q, "t1", epoch)), store.ErrAlreadyExists)
	got, err := s.GetTask(ctx, q.Name, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.Task, tk.Task) || got.Queue != q.Name || got.ID != "t1" || !got.Created.Equal(created) || got.ExecutionCount != 3 {
		t.Fatalf("GetTask = %+v, want %+v", got, tk)
	}
	_, err = s.GetTask(ctx, q.Name, "nope")
	wantErr(t, "GetTask(missing)", err, store.ErrNotFound)
	if err := s.DeleteTask(ctx, q.Name, "t1", epoch.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteTask twice", s.DeleteTask(ctx, q.Name, "t1", epoch.Add(time.Hour)), store.ErrNotFound)
	wantErr(t, "DeleteTask(missing queue)", s.DeleteTask(ctx, loc+"/queues/none", "t1", epoch), store.ErrNotFound)
}

func testTaskTombstone(t *testing.T, s store.Store, clock *Clock) {
	ctx := context.Background()
	q := queue("q")
	mustCreateQueue(t, s, q)
	mustCreateTask(t, s, task(q, "t", epoch))
	if err := s.DeleteTask(ctx, q.Name, "t", epoch.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetTask(ctx, q.Name, "t")
	wantErr(t, "GetTask in tombstone", err, store.ErrTombstoned)
	wantErr(t, "CreateTask in tombstone", s.CreateTask(ctx, task(q, "t", epoch)), store.ErrAlreadyExists)
	clock.Advance(time.Hour)
	_, err = s.GetTask(ctx, q.Name, "t")
	wantErr(t, "GetTask after tombstone", err, store.ErrNotFound)
	mustCreateTask(t, s, task(q, "t", epoch))
}

func testTaskNeedsQueue(t *testing.T, s store.Store, _ *Clock) {
	q := queue("ghost")
	wantErr(t, "CreateTask without queue", s.CreateTask(context.Background(), task(q, "t", epoch)), store.ErrQueueNotFound)
}

func testListTasks(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	q, other := queue("q"), queue("other")
	mustCreateQueue(t, s, q)
	mustCreateQueue(t, s, other)
	for _, id := range []string{"b", "a", "c", "a_0", "A"} {
		mustCreateTask(t, s, task(q, id, epoch))
	}
	mustCreateTask(t, s, task(other, "x", epoch))
	var ids []string
	after := ""
	for {
		page, err := s.ListTasks(ctx, q.Name, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, tk := range page {
			if string(tk.Task.GetHttpRequest().GetBody()) != "body of "+tk.ID {
				t.Errorf("listed task %s has body %q", tk.ID, tk.Task.GetHttpRequest().GetBody())
			}
			ids = append(ids, tk.ID)
		}
		after = page[len(page)-1].ID
	}
	if fmt.Sprint(ids) != "[A a a_0 b c]" {
		t.Fatalf("ListTasks pages = %v, want [A a a_0 b c]", ids)
	}
}

func testPurgeQueue(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	q := queue("q")
	mustCreateQueue(t, s, q)
	at := epoch.Add(time.Second)
	mustCreateTask(t, s, task(q, "old", at.Add(-time.Microsecond)))
	mustCreateTask(t, s, task(q, "new", at))
	got, err := s.PurgeQueue(ctx, q.Name, at, at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !got.GetPurgeTime().AsTime().Equal(at) {
		t.Fatalf("purge_time = %v, want %v", got.GetPurgeTime().AsTime(), at)
	}
	stored, err := s.GetQueue(ctx, q.Name)
	if err != nil || !stored.GetPurgeTime().AsTime().Equal(at) {
		t.Fatalf("stored purge_time = %v (%v), want %v", stored.GetPurgeTime(), err, at)
	}
	_, err = s.GetTask(ctx, q.Name, "old")
	wantErr(t, "GetTask(purged)", err, store.ErrTombstoned)
	if _, err := s.GetTask(ctx, q.Name, "new"); err != nil {
		t.Fatalf("task created at the purge time was purged: %v", err)
	}
	_, err = s.PurgeQueue(ctx, loc+"/queues/none", at, at)
	wantErr(t, "PurgeQueue(missing)", err, store.ErrNotFound)
}

func testDeleteQueueDropsTasks(t *testing.T, s store.Store, clock *Clock) {
	ctx := context.Background()
	q := queue("q")
	mustCreateQueue(t, s, q)
	mustCreateTask(t, s, task(q, "t", epoch))
	if err := s.DeleteQueue(ctx, q.Name, epoch.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	mustCreateQueue(t, s, queue("q"))
	tasks, err := s.ListTasks(ctx, q.Name, "", 10)
	if err != nil || len(tasks) != 0 {
		t.Fatalf("re-created queue lists %d tasks (%v), want none", len(tasks), err)
	}
	mustCreateTask(t, s, task(q, "t", epoch))
}

func testRecords(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	_, err := s.GetRecord(ctx, store.KindCmekConfig, loc)
	wantErr(t, "GetRecord(missing)", err, store.ErrNotFound)
	put := func(v string) error {
		return s.UpdateRecord(ctx, store.KindCmekConfig, loc, func(cur []byte) ([]byte, error) {
			if v == "" {
				return nil, nil
			}
			return append(cur, v...), nil
		})
	}
	if err := put("a"); err != nil {
		t.Fatal(err)
	}
	if err := put("b"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRecord(ctx, store.KindCmekConfig, loc)
	if err != nil || string(got) != "ab" {
		t.Fatalf("GetRecord = %q, %v; want \"ab\"", got, err)
	}
	boom := errors.New("stale etag")
	if err := s.UpdateRecord(ctx, store.KindCmekConfig, loc, func([]byte) ([]byte, error) { return nil, boom }); err != boom {
		t.Fatalf("UpdateRecord with failing fn: got %v, want its error", err)
	}
	if err := put(""); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetRecord(ctx, store.KindCmekConfig, loc)
	wantErr(t, "GetRecord after delete", err, store.ErrNotFound)

	q := queue("q")
	mustCreateQueue(t, s, q)
	if err := s.UpdateRecord(ctx, store.KindQueuePolicy, q.Name, func([]byte) ([]byte, error) { return []byte("p"), nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteQueue(ctx, q.Name, epoch); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetRecord(ctx, store.KindQueuePolicy, q.Name)
	wantErr(t, "policy of a deleted queue", err, store.ErrNotFound)
}

// testConcurrentCreates checks that writes grouped into shared commits
// keep their own outcomes: each duplicate fails, every other task lands.
// testRacingCreates starts creates of the same names at once, so that
// they share group commits: one create of each name wins, and it is the
// winner's task that is stored; creates of a tombstoned name or into a
// missing queue fail alone.
func testRacingCreates(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	q := queue("q")
	mustCreateQueue(t, s, q)
	mustCreateTask(t, s, task(q, "dead", epoch))
	if err := s.DeleteTask(ctx, q.Name, "dead", epoch.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	const names, racers = 8, 16
	won := make([]atomic.Int32, names)
	winner := make([]atomic.Int32, names) // the racer whose create won
	errs := make(chan error, names*racers+2*racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for r := range racers {
		wg.Go(func() {
			<-start
			for n := range names {
				tk := task(q, fmt.Sprintf("t%d", n), epoch)
				tk.Task.GetHttpRequest().Body = fmt.Appendf(nil, "racer %d", r)
				switch err := s.CreateTask(ctx, tk); {
				case err == nil:
					won[n].Add(1)
					winner[n].Store(int32(r))
				case !errors.Is(err, store.ErrAlreadyExists):
					errs <- fmt.Errorf("create t%d: %w", n, err)
				}
			}
			if err := s.CreateTask(ctx, task(q, "dead", epoch)); !errors.Is(err, store.ErrAlreadyExists) {
				errs <- fmt.Errorf("create in tombstone: got %v, want ErrAlreadyExists", err)
			}
			if err := s.CreateTask(ctx, task(queue("ghost"), "t", epoch)); !errors.Is(err, store.ErrQueueNotFound) {
				errs <- fmt.Errorf("create without queue: got %v, want ErrQueueNotFound", err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for n := range names {
		if got := won[n].Load(); got != 1 {
			t.Errorf("t%d: %d creates succeeded, want 1", n, got)
		}
		got, err := s.GetTask(ctx, q.Name, fmt.Sprintf("t%d", n))
		if want := fmt.Sprintf("racer %d", winner[n].Load()); err != nil || string(got.Task.GetHttpRequest().GetBody()) != want {
			t.Errorf("t%d stored as %v (%v), want the winner's task (body %q)", n, got, err, want)
		}
	}
}

func testConcurrentCreates(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	q := queue("q")
	mustCreateQueue(t, s, q)
	const workers, per = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*per*2)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				id := fmt.Sprintf("w%d-%d", w, i)
				errs <- s.CreateTask(ctx, task(q, id, epoch))
				if err := s.CreateTask(ctx, task(q, id, epoch)); !errors.Is(err, store.ErrAlreadyExists) {
					errs <- fmt.Errorf("duplicate %s: got %v, want ErrAlreadyExists", id, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ListTasks(ctx, q.Name, "", workers*per+1)
	if err != nil || len(all) != workers*per {
		t.Fatalf("listed %d tasks (%v), want %d", len(all), err, workers*per)
	}
}
