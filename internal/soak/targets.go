package soak

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
)

// fault is how a target treats a task's first attempt.
type fault int

const (
	healthy fault = iota
	hang          // no answer until the attempt's deadline
	fail500
	throttle503 // 503 with Retry-After: 1
	reset       // the connection is reset
	faults      // how many kinds there are
)

func (f fault) String() string {
	return [...]string{"healthy", "hung", "500", "503", "reset"}[f]
}

// target answers 200 to every attempt but the first, which it treats as
// its fault says, and counts each task's 200s.
type target struct {
	fault fault
	srv   *httptest.Server
	mu    sync.Mutex
	ok    map[string]int // task name -> 200s sent
	stop  chan struct{}
}

func newTarget(f fault) *target {
	t := &target{fault: f, ok: make(map[string]int), stop: make(chan struct{})}
	t.srv = httptest.NewServer(http.HandlerFunc(t.serve))
	return t
}

func (t *target) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-CloudTasks-TaskRetryCount") == "0" {
		switch t.fault {
		case hang:
			select {
			case <-r.Context().Done():
			case <-t.stop:
			}
			return
		case fail500:
			w.WriteHeader(http.StatusInternalServerError)
			return
		case throttle503:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case reset:
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}
			return
		}
	}
	t.mu.Lock()
	t.ok[r.Header.Get("X-CloudTasks-TaskName")]++
	t.mu.Unlock()
}

// delivered returns how many 200s the task got.
func (t *target) delivered(id string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ok[id]
}

func (t *target) close() {
	close(t.stop)
	t.srv.Close()
}
