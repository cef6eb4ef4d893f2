package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// delayBuckets are the upper bounds (seconds) of the attempt delay
// histogram: from a prompt attempt to one an hour late.
var delayBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// Windows: the console's deliveries are counted per 10 s, over 10 minutes.
const (
	windowSlot  = 10 * time.Second
	windowSlots = 60
	// lastMinuteSlots: "the last minute" is the current slot and the five
	// before it.
	lastMinuteSlots = 6
)

// queueStats is what is kept of one queue.
type queueStats struct {
	// mu is held for reading by every store call that changes the
	// queue's depth, from before the call until the depth is adjusted,
	// and for writing while the depth is recounted (purge) or the queue
	// removed, so that a count and the changes around it agree.
	mu sync.RWMutex
	// dead: the queue was deleted and this record dropped (under mu).
	dead bool

	depth atomic.Int64
	// known: the queue is known to exist (counted, created or written
	// to); only known queues report a depth.
	known atomic.Bool
	// owned: this node owns the queue (cluster only).
	owned atomic.Bool

	inFlight atomic.Int64

	// Written by the completer's goroutine, read by scrapes and the
	// console.
	amu      sync.Mutex
	attempts [17]uint64 // by google.rpc.Code
	delays   [17]uint64 // non-cumulative counts per delayBuckets, then +Inf
	delaySum float64
	delayN   uint64
	slots    [windowSlots]slot
}

// slot counts the attempts that ended in one 10 s period.
type slot struct {
	epoch              int64 // Unix time / 10 s
	attempts, failures int64
}

// queue returns the record of name, creating it if needed.
func (m *Metrics) queue(name string) *queueStats {
	if qs, ok := m.queues.Load(name); ok {
		return qs.(*queueStats)
	}
	qs, _ := m.queues.LoadOrStore(name, &queueStats{})
	return qs.(*queueStats)
}

// lockQueue returns the record of name held for reading (see
// queueStats.mu); the caller must RUnlock it.
func (m *Metrics) lockQueue(name string) *queueStats {
	for {
		qs := m.queue(name)
		qs.mu.RLock()
		if !qs.dead {
			return qs
		}
		qs.mu.RUnlock() // dropped meanwhile: take the new record
	}
}

// lockExisting is lockQueue for a queue that has a record, nil if it has
// none.
func (m *Metrics) lockExisting(name string) *queueStats {
	for {
		v, ok := m.queues.Load(name)
		if !ok {
			return nil
		}
		qs := v.(*queueStats)
		qs.mu.RLock()
		if !qs.dead {
			return qs
		}
		qs.mu.RUnlock()
	}
}

// drop removes name's record; the caller holds qs.mu for writing.
func (m *Metrics) drop(name string, qs *queueStats) {
	qs.dead = true
	m.queues.CompareAndDelete(name, qs)
}

// record adds one finished attempt; only the completer calls it.
func (qs *queueStats) record(code int32, delay time.Duration, at time.Time, failed bool) {
	if code < 0 || int(code) >= len(qs.attempts) {
		code = 2 // UNKNOWN
	}
	secs := max(delay.Seconds(), 0)
	b := 0
	for b < len(delayBuckets) && secs > delayBuckets[b] {
		b++
	}
	epoch := at.Unix() / int64(windowSlot/time.Second)
	qs.amu.Lock()
	qs.attempts[code]++
	qs.delays[b]++
	qs.delaySum += secs
	qs.delayN++
	s := &qs.slots[epoch%windowSlots]
	if s.epoch != epoch {
		*s = slot{epoch: epoch}
	}
	s.attempts++
	if failed {
		s.failures++
	}
	qs.amu.Unlock()
}

// QueueStats are a queue's live figures for the web console.
type QueueStats struct {
	// Depth is the tasks in the queue (in flight included); InFlight the
	// attempts under way.
	Depth, InFlight int64
	// AttemptsLastMinute and FailuresLastMinute count the attempts that
	// ended in the last minute (the current 10 s period and the five
	// before it), and those that did not succeed.
	AttemptsLastMinute, FailuresLastMinute int64
	// Deliveries are the attempts that ended per 10 s, oldest first,
	// over the last 10 minutes (60 periods, the last one current).
	Deliveries []int64
}

// QueueStats returns the queue's figures (zero for a queue unknown here);
// queue is the full name. It takes no store read.
func (m *Metrics) QueueStats(queue string) QueueStats {
	out := QueueStats{Deliveries: make([]int64, windowSlots)}
	v, ok := m.queues.Load(queue)
	if !ok {
		return out
	}
	qs := v.(*queueStats)
	out.Depth = qs.depth.Load()
	out.InFlight = max(qs.inFlight.Load(), 0)
	now := m.cfg.Now().Unix() / int64(windowSlot/time.Second)
	qs.amu.Lock()
	defer qs.amu.Unlock()
	for i := range windowSlots {
		epoch := now - int64(windowSlots-1-i)
		s := qs.slots[epoch%windowSlots]
		if s.epoch != epoch {
			continue
		}
		out.Deliveries[i] = s.attempts
		if i >= windowSlots-lastMinuteSlots {
			out.AttemptsLastMinute += s.attempts
			out.FailuresLastMinute += s.failures
		}
	}
	return out
}

// queueCollector exports the per-queue records at each scrape.
type queueCollector struct{ m *Metrics }

var (
	depthDesc = prometheus.NewDesc("opentasks_queue_depth",
		"Tasks in the queue, in flight included (Cloud Monitoring: queue/depth). On a cluster each node reports the queues it owns.",
		[]string{"queue"}, nil)
	attemptsDesc = prometheus.NewDesc("opentasks_task_attempts_total",
		"Task attempts by canonical response code (Cloud Monitoring: queue/task_attempt_count).",
		[]string{"queue", "response_code"}, nil)
	delayDesc = prometheus.NewDesc("opentasks_task_attempt_delay_seconds",
		"Attempt start minus the attempt's schedule time (Cloud Monitoring: queue/task_attempt_delays).",
		[]string{"queue"}, nil)
	inFlightDesc = prometheus.NewDesc("opentasks_task_attempts_in_flight",
		"Attempts sent and not yet answered and written.",
		[]string{"queue"}, nil)
)

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- attemptsDesc
	ch <- delayDesc
	ch <- inFlightDesc
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.queues.Range(func(k, v any) bool {
		name, qs := k.(string), v.(*queueStats)
		if qs.known.Load() && (!c.m.cluster || qs.owned.Load()) {
			ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(qs.depth.Load()), name)
		}
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(max(qs.inFlight.Load(), 0)), name)
		qs.amu.Lock()
		attempts, delays, sum, n := qs.attempts, qs.delays, qs.delaySum, qs.delayN
		qs.amu.Unlock()
		for code, v := range attempts {
			if v > 0 {
				ch <- prometheus.MustNewConstMetric(attemptsDesc, prometheus.CounterValue, float64(v), name, codeLabel(int32(code)))
			}
		}
		if n > 0 {
			buckets := make(map[float64]uint64, len(delayBuckets))
			var cum uint64
			for i, le := range delayBuckets {
				cum += delays[i]
				buckets[le] = cum
			}
			ch <- prometheus.MustNewConstHistogram(delayDesc, n, sum, buckets, name)
		}
		return true
	})
}
