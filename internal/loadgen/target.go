package loadgen

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// arrival is one request the target received.
type arrival struct {
	at  time.Time
	eta time.Time // zero for requests that did not come from OpenTasks
}

// target is the HTTP server that tasks are delivered to. Arrivals are kept
// per queue; waiters are told when a queue reaches a count.
type target struct {
	srv *http.Server
	url string

	mu       sync.Mutex
	arrivals map[string][]arrival
	waiters  map[string]waiter
}

type waiter struct {
	n    int
	done chan struct{}
}

func startTarget() (*target, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &target{url: "http://" + ln.Addr().String() + "/", arrivals: map[string][]arrival{}, waiters: map[string]waiter{}}
	t.srv = &http.Server{Handler: t, ReadHeaderTimeout: 10 * time.Second}
	go t.srv.Serve(ln)
	return t, nil
}

func (t *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	a := arrival{at: now}
	if v := r.Header.Get("X-CloudTasks-TaskETA"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			a.eta = time.UnixMicro(int64(f * 1e6))
		}
	}
	q := r.Header.Get("X-CloudTasks-QueueName")
	t.mu.Lock()
	t.arrivals[q] = append(t.arrivals[q], a)
	if wt, ok := t.waiters[q]; ok && len(t.arrivals[q]) >= wt.n {
		close(wt.done)
		delete(t.waiters, q)
	}
	t.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// await returns a channel closed once queue has received n requests.
func (t *target) await(queue string, n int) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	done := make(chan struct{})
	if len(t.arrivals[queue]) >= n {
		close(done)
	} else {
		t.waiters[queue] = waiter{n: n, done: done}
	}
	return done
}

// take returns and forgets the arrivals recorded for queue.
func (t *target) take(queue string) []arrival {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.arrivals[queue]
	delete(t.arrivals, queue)
	return a
}

func (t *target) close() { t.srv.Close() }
