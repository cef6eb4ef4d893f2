package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cloudtasksapi "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store/postgres/pgtest"
)

// clusterTTL is the nodes' --lease-ttl: short, so that a dead node's
// queues move within a test's patience.
const clusterTTL = 2 * time.Second

const clusterLoc = "projects/p/locations/us-central1"

// clusterNode is a server process on the test's PostgreSQL schema.
type clusterNode struct {
	*process
	c *cloudtasksapi.Client
}

// owns reports whether node (a row of the nodes table) is this process:
// node IDs read host-PID-random.
func (n *clusterNode) owns(node string) bool {
	return strings.Contains(node, fmt.Sprintf("-%d-", n.cmd.Process.Pid))
}

// startCluster starts a server process on a fresh schema for each of tg's
// App Engine hosts, waits until all of them are live nodes, and returns
// them with a pool on the schema for the test's own queries. Queues
// created after it returns are owned by one node from the start: every
// node computes their owner from the same live set.
func startCluster(t *testing.T, ctx context.Context, tg *target) ([]*clusterNode, *pgxpool.Pool) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real server processes")
	}
	dbURL := pgtest.SchemaURL(t)
	db, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	var nodes []*clusterNode
	for _, host := range tg.appEngineHosts {
		p := startProcess(t, "--store", dbURL, "--lease-ttl", clusterTTL.String(), "--log-level", "warn", "--app-engine-host", host)
		nodes = append(nodes, &clusterNode{process: p, c: grpcClient(t, p.addr)})
	}
	n := len(nodes)
	poll(t, ctx, fmt.Sprintf("%d live nodes", n), func() (bool, error) {
		live, err := query(ctx, db, `SELECT id FROM nodes WHERE expires > `+dbNowSQL)
		return len(live) == n, err
	})
	return nodes, db
}

// dbNowSQL is the database clock in microseconds, which judges leases.
const dbNowSQL = `(extract(epoch FROM clock_timestamp()) * 1000000)::bigint`

// owners returns the live owner of each owned queue.
func owners(ctx context.Context, db *pgxpool.Pool) (map[string]string, error) {
	rows, err := db.Query(ctx, `SELECT queue, node FROM queue_owners WHERE expires > `+dbNowSQL)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	var q, n string
	_, err = pgx.ForEachRow(rows, []any{&q, &n}, func() error { m[q] = n; return nil })
	return m, err
}

func query(ctx context.Context, db *pgxpool.Pool, sql string, args ...any) ([]string, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// poll re-checks cond until it holds: the state it waits for lives in
// other processes' database rows, which send no signal.
func poll(t *testing.T, ctx context.Context, what string, cond func() (bool, error)) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s: %v", what, ctx.Err())
		}
	}
}

// delivery is one request the target received.
type delivery struct {
	task string // queue ID + "/" + task ID
	at   time.Time
	// node is the index of the node that sent an App Engine task; -1 for
	// HTTP tasks.
	node int
}

// target is a real HTTP endpoint that records every delivery. It has one
// listener per node for App Engine tasks, so that it knows which node sent
// each of them.
type target struct {
	url            string // for HTTP tasks
	appEngineHosts []string

	mu sync.Mutex
	// hold, if set, runs before the target answers a delivery.
	hold    func(r *http.Request, d delivery)
	got     []delivery
	count   map[string]int
	arrived chan struct{} // signalled after each delivery
}

func newTarget(t *testing.T, nodes int) *target {
	tg := &target{count: map[string]int{}, arrived: make(chan struct{}, 1)}
	srv := httptest.NewServer(tg.handler(-1))
	t.Cleanup(srv.Close)
	tg.url = srv.URL + "/work"
	for i := range nodes {
		srv := httptest.NewServer(tg.handler(i))
		t.Cleanup(srv.Close)
		tg.appEngineHosts = append(tg.appEngineHosts, srv.Listener.Addr().String())
	}
	return tg
}

func (tg *target) handler(node int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := delivery{task: r.Header.Get("X-CloudTasks-QueueName") + "/" + r.Header.Get("X-CloudTasks-TaskName"), at: time.Now(), node: node}
		if node >= 0 {
			d.task = r.Header.Get("X-AppEngine-QueueName") + "/" + r.Header.Get("X-AppEngine-TaskName")
		}
		tg.mu.Lock()
		tg.got = append(tg.got, d)
		tg.count[d.task]++
		hold := tg.hold
		tg.mu.Unlock()
		select {
		case tg.arrived <- struct{}{}:
		default:
		}
		if hold != nil {
			hold(r, d)
		}
	})
}

// waitFor waits until cond holds over the deliveries so far.
func (tg *target) waitFor(t *testing.T, ctx context.Context, what string, cond func(got []delivery, count map[string]int) bool) {
	t.Helper()
	for {
		tg.mu.Lock()
		ok := cond(tg.got, tg.count)
		n := len(tg.got)
		tg.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-tg.arrived:
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s after %d deliveries: %v", what, n, ctx.Err())
		}
	}
}

func (tg *target) setHold(hold func(r *http.Request, d delivery)) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.hold = hold
}

func (tg *target) snapshot() ([]delivery, map[string]int) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return slices.Clone(tg.got), maps.Clone(tg.count)
}

// httpTask is a task for the target's HTTP endpoint.
func (tg *target) httpTask(name string) *cloudtaskspb.Task {
	return &cloudtaskspb.Task{
		Name: name,
		// The shortest deadline allowed: the leases of a dead node's
		// attempts end 15s (+ the lease margin) after they began.
		DispatchDeadline: durationpb.New(15 * time.Second),
		MessageType:      &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: tg.url}},
	}
}

// appEngineTask is an App Engine task, due at schedule unless it is zero:
// its delivery tells which node sent it.
func appEngineTask(name string, schedule time.Time) *cloudtaskspb.Task {
	t := &cloudtaskspb.Task{
		Name:        name,
		MessageType: &cloudtaskspb.Task_AppEngineHttpRequest{AppEngineHttpRequest: &cloudtaskspb.AppEngineHttpRequest{RelativeUri: "/work"}},
	}
	if !schedule.IsZero() {
		t.ScheduleTime = timestamppb.New(schedule)
	}
	return t
}

func createQueue(t *testing.T, ctx context.Context, c *cloudtasksapi.Client, id string, rl *cloudtaskspb.RateLimits) *cloudtaskspb.Queue {
	t.Helper()
	q, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: clusterLoc,
		Queue: &cloudtaskspb.Queue{Name: clusterLoc + "/queues/" + id, RateLimits: rl}})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", id, err)
	}
	return q
}

// TestClusterSurvivesKill9 runs three server processes on one database,
// kills one with SIGKILL while they deliver 10,000 tasks of 20 queues, and
// checks that every task is delivered, that only tasks in flight at the
// kill are delivered twice, and how soon the survivors take over the dead
// node's queues.
func TestClusterSurvivesKill9(t *testing.T) {
	ctx := deadline(t, 3*time.Minute)
	tg := newTarget(t, 3)
	nodes, db := startCluster(t, ctx, tg)
	const queues, perQueue = 20, 500

	// Paused while the tasks are created, so that the kill falls in the
	// middle of dispatching, not of creating.
	names := make([]string, queues)
	for i := range queues {
		c := nodes[i%len(nodes)].c
		names[i] = createQueue(t, ctx, c, fmt.Sprintf("q%02d", i), nil).Name
		if _, err := c.PauseQueue(ctx, &cloudtaskspb.PauseQueueRequest{Name: names[i]}); err != nil {
			t.Fatal(err)
		}
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for w := range 48 {
		c := nodes[w%len(nodes)].c // every node takes creates
		wg.Go(func() {
			for i := range work {
				q := names[i%queues]
				if _, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: q,
					Task: tg.httpTask(fmt.Sprintf("%s/tasks/t%05d", q, i))}); err != nil {
					t.Errorf("CreateTask: %v", err)
				}
			}
		})
	}
	for i := range queues * perQueue {
		work <- i
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	var owner map[string]string
	poll(t, ctx, "every queue owned", func() (bool, error) {
		var err error
		owner, err = owners(ctx, db)
		return len(owner) == queues, err
	})
	// The victim is the node that owns the most queues.
	var victim *clusterNode
	var victimQueues []string
	for _, n := range nodes {
		var mine []string
		for q, node := range owner {
			if n.owns(node) {
				mine = append(mine, q)
			}
		}
		if len(mine) > len(victimQueues) {
			victim, victimQueues = n, mine
		}
	}

	for i, q := range names {
		if _, err := nodes[i%len(nodes)].c.ResumeQueue(ctx, &cloudtaskspb.ResumeQueueRequest{Name: q}); err != nil {
			t.Fatal(err)
		}
	}
	tg.waitFor(t, ctx, "3,000 deliveries", func(got []delivery, _ map[string]int) bool { return len(got) >= 3000 })
	victim.kill()
	killedAt := time.Now()

	// The victim's tasks still in the database: leased ones were in flight
	// at the kill (they may be delivered again), the others wait for the
	// new owner.
	rows, err := db.Query(ctx, `SELECT q.name, t.id, t.due > `+dbNowSQL+` FROM tasks t JOIN queues q ON q.id = t.queue_id WHERE q.name = ANY ($1)`, victimQueues)
	if err != nil {
		t.Fatal(err)
	}
	inFlight := map[string]bool{}
	waiting := map[string]bool{} // tasks not yet attempted, by queue ID + "/" + task ID
	var qn, id string
	var leased bool
	if _, err := pgx.ForEachRow(rows, []any{&qn, &id, &leased}, func() error {
		task := qn[strings.LastIndex(qn, "/")+1:] + "/" + id
		if leased {
			inFlight[task] = true
		} else {
			waiting[task] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(waiting) == 0 {
		t.Fatalf("the victim's %d queues had nothing left to deliver at the kill: the kill came too late to test a takeover", len(victimQueues))
	}

	tg.waitFor(t, ctx, "every task delivered", func(_ []delivery, count map[string]int) bool { return len(count) == queues*perQueue })
	got, count := tg.snapshot()
	var dups []string
	for task, n := range count {
		if n > 1 {
			dups = append(dups, task)
			if !inFlight[task] {
				t.Errorf("task %s delivered %d times but was not in flight at the kill", task, n)
			}
		}
	}
	if len(dups) > len(inFlight) {
		t.Errorf("%d tasks delivered twice, more than the %d in flight at the kill", len(dups), len(inFlight))
	}
	// A queue has moved once a task the victim never attempted arrives.
	movedAt := map[string]time.Time{}
	for _, d := range got {
		q, _, _ := strings.Cut(d.task, "/")
		if waiting[d.task] && movedAt[q].IsZero() {
			movedAt[q] = d.at
		}
	}
	var slowest time.Duration
	for _, at := range movedAt {
		slowest = max(slowest, at.Sub(killedAt))
	}
	if slowest > 3*clusterTTL {
		t.Errorf("the dead node's queues moved after %v; want within 3 lease periods (%v)", slowest, 3*clusterTTL)
	}
	t.Logf("killed a node owning %d of %d queues after 3,000 deliveries: %d of its tasks were in flight, %d waiting; "+
		"all %d tasks delivered (%d deliveries, %d tasks twice); its queues moved within %v (lease TTL %v)",
		len(victimQueues), queues, len(inFlight), len(waiting), len(count), len(got), len(dups), slowest.Round(time.Millisecond), clusterTTL)
}

// TestClusterLimitsHold checks that a queue's concurrency cap and rate
// limit hold with two nodes up and tasks created on both: only the queue's
// owner dispatches it.
func TestClusterLimitsHold(t *testing.T) {
	ctx := deadline(t, 2*time.Minute)
	tg := newTarget(t, 2)
	nodes, _ := startCluster(t, ctx, tg)
	var (
		mu              sync.Mutex
		running, maxRun int
	)
	tg.setHold(func(r *http.Request, d delivery) {
		if !strings.HasPrefix(d.task, "capped/") {
			return
		}
		mu.Lock()
		running++
		maxRun = max(maxRun, running)
		mu.Unlock()
		// A slow endpoint, so that attempts overlap.
		select {
		case <-time.After(30 * time.Millisecond):
		case <-r.Context().Done():
		}
		mu.Lock()
		running--
		mu.Unlock()
	})
	capped := createQueue(t, ctx, nodes[0].c, "capped", &cloudtaskspb.RateLimits{MaxConcurrentDispatches: 2})
	rated := createQueue(t, ctx, nodes[1].c, "rated", &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 20})
	const cappedTasks, ratedTasks = 40, 60
	for i := range max(cappedTasks, ratedTasks) {
		c := nodes[i%2].c
		for _, q := range []struct {
			name string
			n    int
		}{{capped.Name, cappedTasks}, {rated.Name, ratedTasks}} {
			if i >= q.n {
				continue
			}
			if _, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: q.name, Task: appEngineTask("", time.Time{})}); err != nil {
				t.Fatal(err)
			}
		}
	}
	tg.waitFor(t, ctx, "every task delivered", func(got []delivery, _ map[string]int) bool { return len(got) >= cappedTasks+ratedTasks })
	got, _ := tg.snapshot()
	if len(got) != cappedTasks+ratedTasks {
		t.Errorf("%d deliveries of %d tasks", len(got), cappedTasks+ratedTasks)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxRun != 2 {
		t.Errorf("at most %d attempts of the capped queue ran at once; want exactly its max_concurrent_dispatches, 2", maxRun)
	}
	var first, last time.Time
	senders := map[string]map[int]bool{} // queue ID → the nodes that delivered its tasks
	for _, d := range got {
		q, _, _ := strings.Cut(d.task, "/")
		if senders[q] == nil {
			senders[q] = map[int]bool{}
		}
		senders[q][d.node] = true
		if strings.HasPrefix(d.task, "rated/") {
			if first.IsZero() {
				first = d.at
			}
			last = d.at
		}
	}
	for q, nodes := range senders {
		if len(nodes) != 1 {
			t.Errorf("%d nodes delivered tasks of %s; only its owner may", len(nodes), q)
		}
	}
	// A token bucket lets out at most burst + rate×T tasks in T.
	rl := rated.GetRateLimits()
	least := time.Duration(float64(ratedTasks-int(rl.GetMaxBurstSize())) / rl.GetMaxDispatchesPerSecond() * float64(time.Second))
	if span := last.Sub(first); span < least*9/10 {
		t.Errorf("%d tasks at %.0f/s (burst %d) went out in %v; the limit allows no less than %v",
			ratedTasks, rl.GetMaxDispatchesPerSecond(), rl.GetMaxBurstSize(), span, least)
	}
	t.Logf("capped queue: at most %d at once; rated queue: %d tasks in %v (limit allows %v at the least)",
		maxRun, ratedTasks, last.Sub(first).Round(time.Millisecond), least)
}

// TestClusterWakeAndRunTask checks that a task created on one node is
// delivered at once by the queue's owner on the other, and that RunTask on
// the node that does not own the queue delivers at once and keeps the
// owner from delivering the task again at its old schedule_time.
func TestClusterWakeAndRunTask(t *testing.T) {
	ctx := deadline(t, 2*time.Minute)
	tg := newTarget(t, 2)
	nodes, db := startCluster(t, ctx, tg)
	q := createQueue(t, ctx, nodes[0].c, "wake", nil)
	var owner string
	poll(t, ctx, "the queue owned", func() (bool, error) {
		o, err := owners(ctx, db)
		owner = o[q.Name]
		return owner != "", err
	})
	// Tasks are created and run on the node that does not own the queue.
	ownerIdx, otherIdx := 0, 1
	if !nodes[0].owns(owner) {
		ownerIdx, otherIdx = 1, 0
	}
	other := nodes[otherIdx]

	created := time.Now()
	if _, err := other.c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: q.Name, Task: appEngineTask(q.Name+"/tasks/now", time.Time{})}); err != nil {
		t.Fatal(err)
	}
	tg.waitFor(t, ctx, "the task due now", func(_ []delivery, count map[string]int) bool { return count["wake/now"] == 1 })
	got, _ := tg.snapshot()
	if got[0].node != ownerIdx {
		t.Errorf("the task was delivered by node %d, not by the queue's owner, node %d", got[0].node, ownerIdx)
	}
	if wake := got[0].at.Sub(created); wake > time.Second {
		t.Errorf("a task due now, created on the other node, was delivered after %v; want a wake-up, not a poll", wake)
	} else {
		t.Logf("task created on the non-owner delivered by the owner after %v", wake.Round(time.Microsecond))
	}

	// "run" is due in 2s and "control" just after it: the owner delivering
	// control shows it has passed run's old schedule_time. run's attempt
	// is held until then, so only its lease keeps the owner off it.
	controlDone := make(chan struct{})
	var once sync.Once
	tg.setHold(func(r *http.Request, d delivery) {
		switch d.task {
		case "wake/control":
			once.Do(func() { close(controlDone) })
		case "wake/run":
			select {
			case <-controlDone:
			case <-r.Context().Done():
			}
		}
	})
	at := time.Now().Add(2 * time.Second)
	for id, when := range map[string]time.Time{"run": at, "control": at.Add(100 * time.Millisecond)} {
		if _, err := other.c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: q.Name, Task: appEngineTask(q.Name+"/tasks/"+id, when)}); err != nil {
			t.Fatal(err)
		}
	}
	ran := time.Now()
	task, err := other.c.RunTask(ctx, &cloudtaskspb.RunTaskRequest{Name: q.Name + "/tasks/run"})
	if err != nil {
		t.Fatal(err)
	}
	if task.GetDispatchCount() != 1 {
		t.Errorf("RunTask returned dispatch_count %d, want 1", task.GetDispatchCount())
	}
	tg.waitFor(t, ctx, "the run task", func(_ []delivery, count map[string]int) bool { return count["wake/run"] >= 1 })
	if d := time.Since(ran); d > time.Second {
		t.Errorf("RunTask on the non-owner delivered after %v, not at once", d)
	}
	tg.waitFor(t, ctx, "the control task", func(_ []delivery, count map[string]int) bool { return count["wake/control"] == 1 })
	got, count := tg.snapshot()
	if count["wake/run"] != 1 {
		t.Errorf("the run task was delivered %d times; the owner delivered it again at its old schedule_time", count["wake/run"])
	}
	for _, d := range got {
		if want := map[string]int{"wake/run": otherIdx, "wake/control": ownerIdx}[d.task]; d.task != "wake/now" && d.node != want {
			t.Errorf("%s delivered by node %d, want node %d", d.task, d.node, want)
		}
	}
}
