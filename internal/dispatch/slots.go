package dispatch

import "sync"

// slots bounds the attempts in flight across all queues. Each attempt is a
// goroutine holding its task and an HTTP request; without a bound, a
// million due tasks over many queues (each allowed up to 5,000 at once)
// would wait in memory for connections instead of in the store.
type slots struct {
	sem chan struct{}

	mu      sync.Mutex
	waiting map[*runner]struct{} // schedulers to poke when a slot frees
}

func newSlots(n int) *slots {
	return &slots{sem: make(chan struct{}, n), waiting: make(map[*runner]struct{})}
}

// take takes up to n free slots for r and returns how many it got. When
// it gets none, r is poked as soon as a slot frees.
func (s *slots) take(r *runner, n int) int {
	got := s.try(n)
	if got > 0 {
		return got
	}
	s.mu.Lock()
	s.waiting[r] = struct{}{}
	s.mu.Unlock()
	// A slot freed before r was listed would poke nobody: look once more.
	return s.try(n)
}

func (s *slots) try(n int) int {
	for got := 0; got < n; got++ {
		select {
		case s.sem <- struct{}{}:
		default:
			return got
		}
	}
	return n
}

// give frees n slots and pokes the schedulers waiting for one.
func (s *slots) give(n int) {
	for range n {
		<-s.sem
	}
	s.mu.Lock()
	for r := range s.waiting {
		r.signal(r.poke)
		delete(s.waiting, r)
	}
	s.mu.Unlock()
}
