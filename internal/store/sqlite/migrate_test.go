package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/store/sqlite"
)

// TestUpgradeKeepsTasks writes a task into a file at schema version 1 and
// checks that Open's migrations keep it readable and due.
func TestUpgradeKeepsTasks(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	v1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	const queue = "projects/p/locations/l/queues/q"
	due := time.UnixMicro(1_700_000_000_000_000).UTC()
	qdata, _ := proto.Marshal(&cloudtaskspb.Queue{Name: queue, State: cloudtaskspb.Queue_RUNNING})
	tdata, _ := proto.Marshal(&cloudtaskspb.Task{Name: queue + "/tasks/a", ScheduleTime: timestamppb.New(due)})
	for _, stmt := range []struct {
		q    string
		args []any
	}{
		{string(v1), nil},
		{"PRAGMA user_version = 1", nil},
		{"INSERT INTO queues (id, name, data) VALUES (7, ?, ?)", []any{queue, qdata}},
		{"INSERT INTO tasks (queue_id, id, due, created, exec_count, data) VALUES (7, 'a', ?, ?, 2, ?)",
			[]any{due.UnixMicro(), due.UnixMicro(), tdata}},
	} {
		if _, err := db.Exec(stmt.q, stmt.args...); err != nil {
			t.Fatalf("%.40s: %v", stmt.q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.GetTask(ctx, queue, "a")
	if err != nil || got.ExecutionCount != 2 || got.Task.GetName() != queue+"/tasks/a" {
		t.Fatalf("GetTask after upgrade = %v, %v; want the task with exec_count 2", got, err)
	}
	ready, _, err := s.DueTasks(ctx, queue, due, 10)
	if err != nil || len(ready) != 1 || !ready[0].Due.Equal(due) {
		t.Fatalf("DueTasks after upgrade = %v, %v; want task a due at %v", ready, err, due)
	}
}
