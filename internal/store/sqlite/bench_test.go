package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/sqlite"
	"github.com/opentasks/opentasks/internal/store/storetest"
)

// BenchmarkCreateTask: see storetest.BenchmarkCreateTask.
//
//	go test ./internal/store/sqlite -run '^$' -bench CreateTask -benchtime 100000x
func BenchmarkCreateTask(b *testing.B) {
	storetest.BenchmarkCreateTask(b, func(b *testing.B) store.Store { return openBench(b) })
}

// BenchmarkDispatch: see storetest.BenchmarkDispatch.
//
//	go test ./internal/store/sqlite -run '^$' -bench Dispatch -benchtime 100000x
func BenchmarkDispatch(b *testing.B) { storetest.BenchmarkDispatch(b, openBench(b)) }

// openBench opens a fresh store, closed when the benchmark ends.
func openBench(b *testing.B) *sqlite.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
