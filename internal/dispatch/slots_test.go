package dispatch

import "testing"

// TestFreedSlotGoesToQueueUnderShare: a freed slot goes to the first
// queue in line that holds less than its fair share, even when a queue
// over its share waits ahead of it, and to the first in line when every
// waiting queue is at its share.
func TestFreedSlotGoesToQueueUnderShare(t *testing.T) {
	s := newSlots(4)
	a, b := newRunner(nil, "a"), newRunner(nil, "b")
	if got := s.take(a, 4); got != 4 {
		t.Fatalf("a took %d of 4 free slots", got)
	}
	if got := s.take(a, 2); got != 0 {
		t.Fatalf("a took %d slots with none free", got)
	}
	if got := s.take(b, 2); got != 0 {
		t.Fatalf("b took %d slots with none free", got)
	}
	// a (4 held, share 2) is first in line, b (0 held) second.
	s.give(a, 1)
	if s.granted[b] != 1 || s.granted[a] != 0 {
		t.Fatalf("granted a=%d b=%d, want the freed slot handed to b", s.granted[a], s.granted[b])
	}
	if got := s.take(b, 2); got != 1 {
		t.Fatalf("b took %d, want the 1 handed to it", got)
	}
	s.give(a, 1) // a holds 2, b 1: b is still under its share
	if got := s.take(b, 1); got != 1 {
		t.Fatalf("b took %d, want the second freed slot", got)
	}
	s.leave(a)
	s.leave(b)
	if s.active != 2 || s.held[a] != 2 || s.held[b] != 2 || len(s.waiting) != 0 {
		t.Fatalf("after leaving: active %d held %v waiting %d", s.active, s.held, len(s.waiting))
	}
}

// TestFreedSlotGoesToFirstInLineAtShare: when every queue in line holds
// its fair share, the first in line gets the freed slot.
func TestFreedSlotGoesToFirstInLineAtShare(t *testing.T) {
	s := newSlots(6)
	a, b, c := newRunner(nil, "a"), newRunner(nil, "b"), newRunner(nil, "c")
	for _, r := range []*runner{a, b, c} {
		s.take(r, 2)
	}
	s.take(a, 1)
	s.take(b, 1)
	s.give(c, 1) // share 6/3 = 2: a and b hold it
	if s.granted[a] != 1 || s.granted[b] != 0 {
		t.Fatalf("granted a=%d b=%d, want the first in line, a", s.granted[a], s.granted[b])
	}
}
