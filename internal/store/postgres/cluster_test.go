package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/postgres"
)

const queuePrefix = "projects/p/locations/l/queues/"

// cluster tracks which node owns which queue from the nodes' events.
type cluster struct {
	mu      sync.Mutex
	owner   map[string]string // queue → node
	changed chan struct{}     // signalled after every event
	wakes   chan store.ClusterEvent
}

func newCluster() *cluster {
	return &cluster{owner: map[string]string{}, changed: make(chan struct{}, 1), wakes: make(chan store.ClusterEvent, 1024)}
}

func (c *cluster) record(node string, ev store.ClusterEvent) {
	c.mu.Lock()
	switch ev.Kind {
	case store.QueueAcquired:
		if prev, ok := c.owner[ev.Queue]; ok {
			panic(fmt.Sprintf("%s acquired %s while %s owns it", node, ev.Queue, prev))
		}
		c.owner[ev.Queue] = node
	case store.QueueLost:
		if c.owner[ev.Queue] == node {
			delete(c.owner, ev.Queue)
		}
	case store.QueueWake:
		c.wakes <- ev
	}
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds over the owners, failing after timeout.
func (c *cluster) waitFor(t *testing.T, timeout time.Duration, what string, cond func(owner map[string]string) bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok := cond(c.owner)
		snapshot := fmt.Sprint(c.owner)
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-c.changed:
		case <-deadline.C:
			t.Fatalf("after %v: not %s; owners: %s", timeout, what, snapshot)
		}
	}
}

// runNode runs s as node name until the test ends or stop is called.
func (c *cluster) runNode(t *testing.T, name string, s *postgres.Store) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.RunNode(ctx, func(ev store.ClusterEvent) { c.record(name, ev) }) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("RunNode(%s) = %v, want context.Canceled", name, err)
		}
	})
	t.Cleanup(stop)
	return stop
}

func createQueues(t *testing.T, s store.Store, n int) []string {
	t.Helper()
	var names []string
	for i := range n {
		q := &cloudtaskspb.Queue{Name: fmt.Sprintf("%sq%02d", queuePrefix, i), State: cloudtaskspb.Queue_RUNNING}
		if err := s.CreateQueue(context.Background(), q); err != nil {
			t.Fatal(err)
		}
		names = append(names, q.Name)
	}
	return names
}

func allOwned(queues []string, nodes ...string) func(map[string]string) bool {
	return func(owner map[string]string) bool {
		count := map[string]int{}
		for _, q := range queues {
			o, ok := owner[q]
			if !ok {
				return false
			}
			count[o]++
		}
		for _, n := range nodes {
			if count[n] == 0 {
				return false
			}
		}
		return len(count) == len(nodes)
	}
}

// TestClusterSpreadAndLeave: queues spread over the live nodes, and a node
// that stops gracefully hands its queues over at once, long before its
// leases would run out.
func TestClusterSpreadAndLeave(t *testing.T) {
	t.Parallel()
	dbURL := schemaURL(t)
	const ttl = time.Minute
	a, b, c := open(t, dbURL, postgres.WithLeaseTTL(ttl)), open(t, dbURL, postgres.WithLeaseTTL(ttl)), open(t, dbURL, postgres.WithLeaseTTL(ttl))
	queues := createQueues(t, a, 20)
	cl := newCluster()
	cl.runNode(t, "a", a)
	cl.waitFor(t, 10*time.Second, "all queues on a", allOwned(queues, "a"))
	cl.runNode(t, "b", b)
	stopC := cl.runNode(t, "c", c)
	cl.waitFor(t, 10*time.Second, "queues spread over a, b and c", allOwned(queues, "a", "b", "c"))

	// A queue created on any node gets an owner without waiting for a renewal.
	late := &cloudtaskspb.Queue{Name: queuePrefix + "late"}
	if err := b.CreateQueue(context.Background(), late); err != nil {
		t.Fatal(err)
	}
	queues = append(queues, late.Name)
	cl.waitFor(t, 10*time.Second, "the new queue owned", allOwned(queues, "a", "b", "c"))

	stopC()
	cl.waitFor(t, 10*time.Second, "c's queues moved to a and b", allOwned(queues, "a", "b"))
}

// TestClusterWake: a task created, or a queue changed, on a node that does
// not own the queue wakes the owner promptly.
func TestClusterWake(t *testing.T) {
	t.Parallel()
	dbURL := schemaURL(t)
	owner, other := open(t, dbURL), open(t, dbURL)
	queues := createQueues(t, owner, 1)
	cl := newCluster()
	cl.runNode(t, "owner", owner)
	cl.waitFor(t, 10*time.Second, "the queue owned", allOwned(queues, "owner"))

	due := time.Now().Add(time.Millisecond).Truncate(time.Microsecond)
	task := &store.Task{Queue: queues[0], ID: "t", Created: due, Task: &cloudtaskspb.Task{
		Name: queues[0] + "/tasks/t", ScheduleTime: timestamppb.New(due),
	}}
	if err := other.CreateTask(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	wantWake(t, cl, queues[0], due)

	if _, err := other.UpdateQueue(context.Background(), queues[0], func(q *cloudtaskspb.Queue) (*cloudtaskspb.Queue, error) {
		q.State = cloudtaskspb.Queue_PAUSED
		return q, nil
	}); err != nil {
		t.Fatal(err)
	}
	wantWake(t, cl, queues[0], time.Time{})
}

func wantWake(t *testing.T, cl *cluster, queue string, due time.Time) {
	t.Helper()
	select {
	case ev := <-cl.wakes:
		if ev.Queue != queue || !ev.Due.Equal(due) {
			t.Fatalf("wake = %+v, want queue %s due %v", ev, queue, due)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no wake for %s within 5s", queue)
	}
}

// TestClusterLapse: a node that cannot renew stops owning its queues
// before its leases end in the database, so no other node can take a queue
// while it still dispatches it.
func TestClusterLapse(t *testing.T) {
	t.Parallel()
	dbURL := schemaURL(t)
	const ttl = 2 * time.Second
	s := open(t, dbURL, postgres.WithLeaseTTL(ttl))
	queues := createQueues(t, s, 3)
	cl := newCluster()
	cl.runNode(t, "a", s)
	cl.waitFor(t, 10*time.Second, "queues owned", allOwned(queues, "a"))

	ctx := context.Background()
	tx := sideTx(t, dbURL)
	// Renewals write nodes first; holding its lock stalls them all.
	if _, err := tx.Exec(ctx, `LOCK TABLE nodes IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	var expires int64
	if err := tx.QueryRow(ctx, `SELECT min(expires) FROM queue_owners`).Scan(&expires); err != nil {
		t.Fatal(err)
	}
	cl.waitFor(t, 2*ttl, "all queues lost", func(owner map[string]string) bool { return len(owner) == 0 })
	var now int64
	if err := tx.QueryRow(ctx, `SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	if now >= expires {
		t.Fatalf("node gave up its queues %v after its lease ended", time.Duration(now-expires)*time.Microsecond)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	cl.waitFor(t, 2*ttl, "queues owned again once renewals go through", allOwned(queues, "a"))
}

// TestClusterKill: a node killed with SIGKILL loses its queues to the
// others once its lease runs out.
func TestClusterKill(t *testing.T) {
	t.Parallel()
	dbURL := schemaURL(t)
	const ttl = 2 * time.Second
	s := open(t, dbURL, postgres.WithLeaseTTL(ttl))
	queues := createQueues(t, s, 8)

	child := exec.Command(os.Args[0], "-test.run=^TestHelperNode$")
	child.Env = append(os.Environ(), "OPENTASKS_TEST_NODE="+dbURL, "OPENTASKS_TEST_NODE_TTL="+ttl.String())
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	owned := 0
	for sc := bufio.NewScanner(out); owned < len(queues) && sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "acquired ") {
			owned++
		}
	}
	if owned < len(queues) {
		t.Fatalf("the child node acquired %d of %d queues", owned, len(queues))
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	cl := newCluster()
	cl.runNode(t, "survivor", s)
	cl.waitFor(t, 3*ttl, "the dead node's queues taken over", allOwned(queues, "survivor"))
	t.Logf("queues moved %v after SIGKILL (lease TTL %v)", time.Since(killed).Round(time.Millisecond), ttl)
}

// TestHelperNode is the child process of TestClusterKill: a node that
// prints what it acquires.
func TestHelperNode(t *testing.T) {
	dbURL := os.Getenv("OPENTASKS_TEST_NODE")
	if dbURL == "" {
		t.Skip("runs only as TestClusterKill's child process")
	}
	ttl, err := time.ParseDuration(os.Getenv("OPENTASKS_TEST_NODE_TTL"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(context.Background(), dbURL, postgres.WithLeaseTTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	s.RunNode(context.Background(), func(ev store.ClusterEvent) {
		if ev.Kind == store.QueueAcquired {
			fmt.Printf("acquired %s\n", ev.Queue)
		}
	})
}

// TestClusterRebalance: when nodes join, each queue moves to the node the
// rendezvous hash names, even from a node left with no queue at all.
func TestClusterRebalance(t *testing.T) {
	t.Parallel()
	dbURL := schemaURL(t)
	const ttl = time.Minute
	queues := []string{queuePrefix + "only"}
	first := open(t, dbURL, postgres.WithLeaseTTL(ttl))
	if err := first.CreateQueue(context.Background(), &cloudtaskspb.Queue{Name: queues[0]}); err != nil {
		t.Fatal(err)
	}
	cl := newCluster()
	cl.runNode(t, postgres.NodeID(first), first)
	cl.waitFor(t, 10*time.Second, "the queue on the first node", allOwned(queues, postgres.NodeID(first)))
	live := []string{postgres.NodeID(first)}
	for range 2 {
		s := open(t, dbURL, postgres.WithLeaseTTL(ttl))
		cl.runNode(t, postgres.NodeID(s), s)
		live = append(live, postgres.NodeID(s))
	}
	want := postgres.Assign(queues[0], live)
	cl.waitFor(t, 10*time.Second, "the queue on "+want, func(owner map[string]string) bool { return owner[queues[0]] == want })
}
