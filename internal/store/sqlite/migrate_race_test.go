package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opentasks/opentasks/internal/store/migration"
)

// TestMigrationsRace: two connections migrating a new file at the same
// moment (as two processes would without the lock) both succeed and leave
// it at the latest version. Before, both read version 0 and the second
// failed with "table queues already exists".
func TestMigrationsRace(t *testing.T) {
	all, err := migration.Newer(migrations, "migrations", 0)
	if err != nil {
		t.Fatal(err)
	}
	latest := all[len(all)-1].Version
	for round := range 5 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("race%d.db", round))
		dbs := make([]*sql.DB, 2)
		for i := range dbs {
			db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
			if err != nil {
				t.Fatal(err)
			}
			db.SetMaxOpenConns(1)
			t.Cleanup(func() { db.Close() })
			dbs[i] = db
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, len(dbs))
		for i, db := range dbs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = migrate(context.Background(), db)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, migration %d: %v", round, i, err)
			}
		}
		var v int
		if err := dbs[0].QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != latest {
			t.Fatalf("round %d: version %d (%v), want %d", round, v, err, latest)
		}
	}
}
