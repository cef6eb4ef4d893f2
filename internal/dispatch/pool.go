package dispatch

import (
	"context"
	"sync/atomic"
	"time"
)

// workerIdle is how long an attempt worker waits for another attempt
// before it ends.
const workerIdle = 10 * time.Second

// pool runs attempts on goroutines that outlive them: the HTTP client
// grows an attempt's stack, and a new goroutine per attempt would grow
// (copy) it again every time. Attempts also take their contexts from
// several parents rather than from one, whose lock and set of children
// every attempt would otherwise contend for.
type pool struct {
	ctx     context.Context
	parents [8]context.Context
	cancels [8]context.CancelFunc
	next    atomic.Uint32
	// jobs hands an attempt to an idle worker; unbuffered, so a send
	// succeeds only when one is waiting.
	jobs chan func(context.Context)
}

// newPool returns a pool whose attempts end when ctx does.
func newPool(ctx context.Context) *pool {
	p := &pool{ctx: ctx, jobs: make(chan func(context.Context))}
	for i := range p.parents {
		p.parents[i], p.cancels[i] = context.WithCancel(ctx)
	}
	return p
}

// run runs job on an idle worker, or on a new one.
func (p *pool) run(job func(ctx context.Context)) {
	select {
	case p.jobs <- job:
	default:
		go p.work(job)
	}
}

func (p *pool) work(job func(context.Context)) {
	ctx := p.parents[p.next.Add(1)%uint32(len(p.parents))]
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		job(ctx)
		idle.Reset(workerIdle)
		select {
		case job = <-p.jobs:
		case <-idle.C:
			return
		case <-p.ctx.Done():
			return
		}
	}
}

// stop ends the attempts' contexts; their parent's end does too, but vet
// cannot see that.
func (p *pool) stop() {
	for _, cancel := range p.cancels {
		cancel()
	}
}
