package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/sqlite"
	"github.com/opentasks/opentasks/internal/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock func() time.Time) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tasks.db"), sqlite.WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestWALStartsOver checks that the WAL is reused under a steady stream of
// writes. Checkpoints run beside the writer (Store.checkpoint), and the WAL
// starts over only once a checkpoint has copied all of it, which one racing
// the writer never does: without the writer's share, the WAL would grow
// for as long as the writes go on.
func TestWALStartsOver(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tasks.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := &cloudtaskspb.Queue{Name: "projects/p/locations/l/queues/q"}
	if err := s.CreateQueue(ctx, q); err != nil {
		t.Fatal(err)
	}
	// The WAL header's salts change each time the WAL starts over.
	salts := func() string {
		f, err := os.Open(path + "-wal")
		if err != nil {
			t.Error(err)
			return ""
		}
		defer f.Close()
		b := make([]byte, 8)
		if _, err := f.ReadAt(b, 16); err != nil {
			t.Error(err)
		}
		return string(b)
	}
	first := salts()
	const bodySize, limit = 64 << 10, 256 << 20 // the WAL starts over from 16 MB
	var written atomic.Int64
	var n atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for range 16 {
		g.Go(func() error {
			for gctx.Err() == nil {
				if salts() != first {
					return errStartedOver
				}
				if written.Add(bodySize) > limit {
					return fmt.Errorf("the WAL did not start over in %d MB of writes", limit>>20)
				}
				id := fmt.Sprint(n.Add(1))
				if err := s.CreateTask(ctx, &store.Task{Queue: q.Name, ID: id, Created: time.Now(), Task: &cloudtaskspb.Task{
					Name: q.Name + "/tasks/" + id,
					MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
						Url: "http://127.0.0.1:1/", Body: make([]byte, bodySize)}},
					ScheduleTime: timestamppb.New(time.Now().Add(time.Hour)),
				}}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); !errors.Is(err, errStartedOver) {
		t.Fatal(err)
	}
}

var errStartedOver = errors.New("the WAL started over")

func TestWorkflowStore(t *testing.T) {
	storetest.RunWorkflows(t, func(t *testing.T) store.WorkflowStore {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tasks.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
