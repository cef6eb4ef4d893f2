package workflows

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"sync"
)

// maxBranchErrors is how many branch errors UnhandledBranchError lists.
const maxBranchErrors = 100

type branchFailure struct {
	order int
	id    string
	err   *Error
}

// parallel runs branches or loop iterations concurrently, each in its own
// scope, waits for all of them (exception policy continueAll) and raises
// UnhandledBranchError if any failed.
func (f *frame) parallel(ctx context.Context, sc *scope, p *parallelSpec) error {
	if sc.parDepth+1 > maxParallelDepth {
		return errorf(tagParallelNesting, "parallel steps nested deeper than %d", maxParallelDepth)
	}
	limit := int64(maxConcurrentWork)
	if p.limit != nil {
		v, err := f.eval(ctx, sc, p.limit)
		if err != nil {
			return err
		}
		n, ok := v.(int64)
		if !ok || n < 1 {
			return valueErrorf("concurrency_limit must be a positive integer")
		}
		limit = min(n, limit)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []branchFailure
		fatal    error // a non-workflow error (cancellation) ends the step
		stopped  bool  // a `break` in a parallel for starts no more iterations
	)
	sem := make(chan struct{}, limit)
	launch := func(order int, id string, bsc *scope, steps []*step) bool {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		mu.Lock()
		if stopped || fatal != nil {
			mu.Unlock()
			<-sem
			return false
		}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := f.runSteps(ctx, bsc, steps)
			mu.Lock()
			defer mu.Unlock()
			var we *Error
			switch {
			case errors.As(err, &we):
				failures = append(failures, branchFailure{order, id, we})
			case err != nil:
				if fatal == nil {
					fatal = err
					cancel()
				}
			case out.kind == flowBreak:
				stopped = true
			}
		}()
		return true
	}
	if p.loop == nil {
		for i, br := range p.branches {
			if !launch(i, br.name, sc.branchChild(p.shared), br.steps) {
				break
			}
		}
	} else {
		order := 0
		err := f.iterate(ctx, sc, p.loop, func(i int64, v any) (bool, error) {
			bsc := sc.branchChild(p.shared)
			bsc.vars[p.loop.value] = v
			if p.loop.index != "" {
				bsc.vars[p.loop.index] = i
			}
			order++
			return launch(order, strconv.FormatInt(i, 10), bsc, p.loop.steps), nil
		})
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
	}
	wg.Wait()
	if fatal != nil {
		return fatal
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(failures) == 0 {
		return nil
	}
	return unhandledBranchError(failures)
}

func unhandledBranchError(failures []branchFailure) *Error {
	sort.Slice(failures, func(i, j int) bool { return failures[i].order < failures[j].order })
	truncated := len(failures) > maxBranchErrors
	if truncated {
		failures = failures[:maxBranchErrors]
	}
	branches := make([]any, len(failures))
	for i, bf := range failures {
		payload, err := EncodeJSON(bf.err.Value)
		if err != nil {
			payload = []byte(strconv.Quote(bf.err.Message()))
		}
		branches[i] = map[string]any{
			"id":    bf.id,
			"error": map[string]any{"context": bf.err.Error(), "payload": string(payload)},
		}
	}
	return &Error{Value: map[string]any{
		"message":   "UnhandledBranchError: One or more branches or iterations encountered an unhandled runtime error",
		"tags":      []any{tagUnhandledBranch},
		"branches":  branches,
		"truncated": truncated,
	}}
}
