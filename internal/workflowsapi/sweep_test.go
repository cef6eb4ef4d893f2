package workflowsapi_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/workflowsapi"
)

// renewUntilStopped holds RenewExecutions until its context ends, so that
// Stop lands in the middle of a sweep.
type renewUntilStopped struct {
	store.WorkflowStore
	entered chan struct{}
}

func (s renewUntilStopped) RenewExecutions(ctx context.Context, _ []string, _ time.Time) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// errorCounter counts error records.
type errorCounter struct {
	slog.Handler
	n *atomic.Int32
}

func (h errorCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (h errorCounter) Handle(context.Context, slog.Record) error {
	h.n.Add(1)
	return nil
}

// TestStopDuringSweepLogsNoError: a sweep that Stop cuts short is no
// fault, so it logs no ERROR.
func TestStopDuringSweepLogsNoError(t *testing.T) {
	st := openSQLite(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	entered := make(chan struct{}, 1)
	var errs atomic.Int32
	svc := workflowsapi.New(renewUntilStopped{st, entered}, st, workflowsapi.Config{
		LeaseTTL: 20 * time.Millisecond, Logger: slog.New(errorCounter{slog.DiscardHandler, &errs})})
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(time.Minute):
		t.Fatal("no sweep began")
	}
	svc.Stop()
	if n := errs.Load(); n != 0 {
		t.Fatalf("%d ERROR records from a sweep cut short by Stop", n)
	}
}
