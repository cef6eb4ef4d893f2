// Package groupcommit is the queue at the heart of both storage backends'
// group commit: many goroutines put writes, one goroutine takes everything
// waiting, up to a bound, and commits it as one batch. Under load the batch
// grows by itself: whatever arrives while one batch commits forms the next,
// so one fsync acknowledges many writes without any timer.
package groupcommit

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by Put after Close.
var ErrClosed = errors.New("groupcommit: closed")

// Queue feeds batches of T to one commit function.
type Queue[T any] struct {
	items chan T
	// closing wakes Puts waiting on a full queue; stop ends the loop once
	// no Put can add anything more (mu, closed).
	closing, stop, done chan struct{}
	mu                  sync.RWMutex
	closed              bool
}

// Start returns a queue whose goroutine calls commit with batches of
// queued items whose weights add up to about max (a batch always holds at
// least one item). Items still queued at Close go to abandon instead.
func Start[T any](max int, weight func(T) int, commit func([]T), abandon func(T)) *Queue[T] {
	q := &Queue[T]{items: make(chan T, max), closing: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go q.run(max, weight, commit, abandon)
	return q
}

// Put queues it for a coming batch. It does not wait for the commit: the
// item carries its own way to report back.
func (q *Queue[T]) Put(ctx context.Context, it T) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrClosed
	}
	select {
	case q.items <- it:
		return nil
	case <-q.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the queue once the batch in hand is committed; items queued
// behind it go to abandon.
func (q *Queue[T]) Close() {
	close(q.closing)
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	close(q.stop)
	<-q.done
}

func (q *Queue[T]) run(max int, weight func(T) int, commit func([]T), abandon func(T)) {
	defer close(q.done)
	batch := make([]T, 0, max)
	for {
		select {
		case it := <-q.items:
			batch = append(batch[:0], it)
		case <-q.stop:
			for {
				select {
				case it := <-q.items:
					abandon(it)
				default:
					return
				}
			}
		}
		n := weight(batch[0])
	drain:
		for n < max {
			select {
			case it := <-q.items:
				batch = append(batch, it)
				n += weight(it)
			default:
				break drain
			}
		}
		commit(batch)
	}
}
