package dispatch

import "sync"

// slots bounds the attempts in flight across all queues that are still
// fresh: each is a goroutine holding its task and an HTTP request, and
// without a bound a million due tasks over many queues (each allowed up to
// 5,000 at once) would wait in memory for connections instead of in the
// store. An attempt that has waited slowAfter for its target gives its slot
// back (see Dispatcher.attempt): from then on it counts only against its
// queue's max_concurrent_dispatches, so a queue whose target hangs holds
// no slot the other queues need.
//
// When slots run short, queues share them fairly: a scheduler that wants
// more than it can get waits in line, and a freed slot is handed to the
// first in line that holds fewer than its fair share (the bound over the
// queues that hold slots or wait for one), or to the first in line if none
// does; it goes to the back if it wants more. A scheduler may take a free
// slot itself only when nobody is waiting. Letting whichever scheduler
// stepped first take every slot that freed gave the queues with the most
// attempts in flight (whose attempts free the most slots, and wake their
// own scheduler) ever more of them: over 64 queues some ran at a third of
// the others' pace, and the slowest set the time to drain.
type slots struct {
	mu      sync.Mutex
	size    int
	free    int
	waiting []*runner        // in line for a slot, first first
	queued  map[*runner]bool // the runners in waiting
	granted map[*runner]int  // slots handed to a runner, not yet taken
	held    map[*runner]int  // slots a runner holds, granted ones included
	active  int              // runners that hold slots or wait for one
}

func newSlots(n int) *slots {
	return &slots{size: n, free: n, queued: make(map[*runner]bool),
		granted: make(map[*runner]int), held: make(map[*runner]int)}
}

// update applies f to r's state, keeping active up to date.
func (s *slots) update(r *runner, f func()) {
	was := s.held[r] > 0 || s.queued[r]
	f()
	if s.held[r] == 0 {
		delete(s.held, r)
	}
	switch is := s.held[r] > 0 || s.queued[r]; {
	case is && !was:
		s.active++
	case was && !is:
		s.active--
	}
}

// take takes up to n slots for r and returns how many it got: first those
// handed to it, then free ones if nobody waits. If it got fewer than n, r
// is in line and is poked when it is handed one.
func (s *slots) take(r *runner, n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := min(n, s.granted[r])
	if s.granted[r] -= got; s.granted[r] == 0 {
		delete(s.granted, r)
	}
	s.update(r, func() {
		if got < n && len(s.waiting) == 0 {
			k := min(n-got, s.free)
			s.free -= k
			s.held[r] += k
			got += k
		}
		if got < n && !s.queued[r] {
			s.queued[r] = true
			s.waiting = append(s.waiting, r)
		}
	})
	return got
}

// give frees n of r's slots, handing them to the schedulers in line.
func (s *slots) give(r *runner, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.update(r, func() { s.held[r] -= n })
	s.giveLocked(n)
}

func (s *slots) giveLocked(n int) {
	for ; n > 0 && len(s.waiting) > 0; n-- {
		share := s.size / max(1, s.active)
		i := 0
		for j, w := range s.waiting {
			if s.held[w] < share {
				i = j
				break
			}
		}
		r := s.waiting[i]
		if i == 0 {
			s.waiting[0] = nil
			s.waiting = s.waiting[1:]
		} else {
			s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
		}
		s.update(r, func() {
			delete(s.queued, r)
			s.held[r]++
		})
		s.granted[r]++
		r.signal(r.poke)
	}
	s.free += n
}

// leave takes r out of line and frees the slots handed to it, for a
// scheduler that no longer waits for slots (its queue was paused or
// removed, or it must wait for tokens or due tasks instead).
func (s *slots) leave(r *runner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.granted[r]
	delete(s.granted, r)
	s.update(r, func() {
		if s.queued[r] {
			delete(s.queued, r)
			for i, w := range s.waiting {
				if w == r {
					s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
					break
				}
			}
		}
		s.held[r] -= n
	})
	s.giveLocked(n)
}
