package dispatch

import "github.com/opentasks/opentasks/internal/store"

// runNode makes this process a node of the store's cluster until Stop and
// turns ownership changes into schedulers started and stopped.
func (d *Dispatcher) runNode() {
	defer close(d.nodeDone)
	if err := d.cluster.RunNode(d.ctx, d.onCluster); err != nil && d.ctx.Err() == nil {
		d.log.Error("dispatch: cluster node stopped; this process dispatches no queue until restarted", "err", err)
	}
}

// onCluster handles one store.ClusterEvent; it runs on RunNode's goroutine
// and must not block.
func (d *Dispatcher) onCluster(ev store.ClusterEvent) {
	switch ev.Kind {
	case store.QueueAcquired:
		d.mu.Lock()
		d.owned[ev.Queue] = true
		d.mu.Unlock()
		d.Changed(ev.Queue)
	case store.QueueLost:
		d.mu.Lock()
		delete(d.owned, ev.Queue)
		if r := d.runners[ev.Queue]; r != nil {
			// Its attempts in flight finish and complete as usual; a new
			// owner skips their tasks while they are leased.
			delete(d.runners, ev.Queue)
			close(r.stop)
		}
		d.mu.Unlock()
	case store.QueueWake:
		if ev.Due.IsZero() {
			d.Changed(ev.Queue)
		} else {
			d.Scheduled(ev.Queue, ev.Due)
		}
	}
}
