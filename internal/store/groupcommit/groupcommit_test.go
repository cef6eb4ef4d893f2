package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestBatches holds the committer inside its first batch while more items
// queue, and checks that they are then committed together, in order,
// within the weight bound.
func TestBatches(t *testing.T) {
	first := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	var batches [][]int
	all := make(chan struct{})
	q := Start(4, func(int) int { return 2 }, func(b []int) {
		mu.Lock()
		batches = append(batches, append([]int(nil), b...))
		n := len(batches)
		mu.Unlock()
		switch n {
		case 1:
			close(first)
			<-release
		case 3:
			close(all)
		}
	}, func(int) { t.Error("an item was abandoned") })
	ctx := context.Background()
	if err := q.Put(ctx, 0); err != nil {
		t.Fatal(err)
	}
	<-first
	for i := 1; i <= 4; i++ { // the queue holds max items
		if err := q.Put(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	<-all
	q.Close()
	if err := q.Put(ctx, 5); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close = %v, want ErrClosed", err)
	}
	// Weight 2 against a bound of 4: two items a batch.
	if got, want := fmt.Sprint(batches), "[[0] [1 2] [3 4]]"; got != want {
		t.Fatalf("batches = %s, want %s", got, want)
	}
}

// TestAbandon checks that an item still queued when Close comes is either
// committed or handed to abandon, never lost.
func TestAbandon(t *testing.T) {
	block := make(chan struct{})
	inCommit := make(chan struct{}, 1)
	var mu sync.Mutex
	var committed, abandoned []int
	q := Start(1, func(int) int { return 1 }, func(b []int) {
		mu.Lock()
		committed = append(committed, b...)
		mu.Unlock()
		inCommit <- struct{}{}
		<-block
	}, func(i int) {
		mu.Lock()
		abandoned = append(abandoned, i)
		mu.Unlock()
	})
	ctx := context.Background()
	q.Put(ctx, 1)
	<-inCommit
	q.Put(ctx, 2) // waits in the queue: the committer is busy
	closed := make(chan struct{})
	go func() { q.Close(); close(closed) }()
	close(block)
	<-closed
	if got := fmt.Sprint(append(committed, abandoned...)); got != "[1 2]" {
		t.Fatalf("committed %v and abandoned %v, want 1 committed and 2 in either", committed, abandoned)
	}
}
