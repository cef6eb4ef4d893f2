package dispatch

import (
	"context"
	"testing"
	"time"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/sqlite"
)

// fakeCluster is a SQLite store that owns no queue until the test says so
// through the dispatcher's onCluster.
type fakeCluster struct {
	*sqlite.Store
	on       chan func(store.ClusterEvent) // RunNode's callback, once running
	returned bool                          // RunNode has returned
}

func (c *fakeCluster) RunNode(ctx context.Context, on func(store.ClusterEvent)) error {
	c.on <- on
	<-ctx.Done()
	c.returned = true
	return ctx.Err()
}

// TestClusterSchedulesOwnedQueuesOnly drives ownership events by hand: a
// queue gets a scheduler only while this node owns it, and Stop waits for
// RunNode.
func TestClusterSchedulesOwnedQueuesOnly(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, "t")
	const q = testQueue
	fc := &fakeCluster{Store: st, on: make(chan func(store.ClusterEvent), 1)}
	outcomes := make(chan Outcome, 1)
	d := New(fc, Config{OnComplete: func(o Outcome) { outcomes <- o }})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	on := <-fc.on
	schedulers := func() int {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.runners)
	}
	if n := schedulers(); n != 0 {
		t.Fatalf("%d schedulers after Start, before owning any queue", n)
	}
	d.Changed(q)
	if n := schedulers(); n != 0 {
		t.Fatalf("Changed started a scheduler for a queue another node owns")
	}

	on(store.ClusterEvent{Kind: store.QueueAcquired, Queue: q})
	select {
	case o := <-outcomes:
		if !o.Deleted || o.TaskID != "t" {
			t.Fatalf("outcome %+v, want task t delivered", o)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the acquired queue's task was not delivered")
	}

	on(store.ClusterEvent{Kind: store.QueueLost, Queue: q})
	d.Changed(q)
	on(store.ClusterEvent{Kind: store.QueueWake, Queue: q})
	if n := schedulers(); n != 0 {
		t.Fatalf("%d schedulers after the queue was lost", n)
	}
	d.Stop()
	if !fc.returned {
		t.Fatal("Stop returned before RunNode")
	}
}
