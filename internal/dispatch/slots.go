package dispatch

import "sync"

// slots bounds the attempts in flight across all queues. Each attempt is a
// goroutine holding its task and an HTTP request; without a bound, a
// million due tasks over many queues (each allowed up to 5,000 at once)
// would wait in memory for connections instead of in the store.
//
// Schedulers that find no free slot wait in line, and a freed slot wakes
// the first of them only: waking every waiting scheduler for each freed
// slot (when slots are the limit, one per attempt) made dozens of them
// step in vain per delivered task. A scheduler woken for a slot that it
// does not take passes the wake-up on (idle), so that no slot stays free
// while another scheduler waits.
type slots struct {
	sem chan struct{}

	mu      sync.Mutex
	waiting []*runner        // in line for a slot, first first
	queued  map[*runner]bool // the runners in waiting
	woken   map[*runner]bool // woken for a slot they have not tried to take yet
}

func newSlots(n int) *slots {
	return &slots{sem: make(chan struct{}, n), queued: make(map[*runner]bool), woken: make(map[*runner]bool)}
}

// take takes up to n free slots for r and returns how many it got. When
// it gets none, r waits in line and is poked when a slot frees.
func (s *slots) take(r *runner, n int) int {
	got := s.try(n)
	s.mu.Lock()
	delete(s.woken, r)
	if got == 0 && !s.queued[r] {
		s.queued[r] = true
		s.waiting = append(s.waiting, r)
	}
	s.mu.Unlock()
	if got == 0 {
		// A slot freed before r was in line woke nobody: look once more.
		// If r gets one now, the wake-up it may still get costs one step.
		got = s.try(n)
	}
	return got
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

// give frees n slots and wakes as many waiting schedulers.
func (s *slots) give(n int) {
	for range n {
		<-s.sem
	}
	s.wake()
}

// wake pokes waiting schedulers, first first, until every free slot has a
// scheduler woken for it.
func (s *slots) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for free := cap(s.sem) - len(s.sem) - len(s.woken); free > 0 && len(s.waiting) > 0; free-- {
		r := s.waiting[0]
		s.waiting[0] = nil
		s.waiting = s.waiting[1:]
		delete(s.queued, r)
		s.woken[r] = true
		r.signal(r.poke)
	}
}

// idle is called by r before it waits, and when it stops: a wake-up for
// a slot that r did not try to take goes to the next in line.
func (s *slots) idle(r *runner, stopping bool) {
	s.mu.Lock()
	passed := s.woken[r]
	delete(s.woken, r)
	if stopping && s.queued[r] {
		delete(s.queued, r)
		for i, w := range s.waiting {
			if w == r {
				s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
				break
			}
		}
	}
	s.mu.Unlock()
	if passed {
		s.wake()
	}
}
