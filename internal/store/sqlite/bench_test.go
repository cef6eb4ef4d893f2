package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/opentasks/opentasks/internal/store/sqlite"
	"github.com/opentasks/opentasks/internal/store/storetest"
)

// BenchmarkCreateTask: see storetest.BenchmarkCreateTask.
//
//	go test ./internal/store/sqlite -run '^$' -bench CreateTask -benchtime 100000x
func BenchmarkCreateTask(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkCreateTask(b, s)
}

// BenchmarkDispatch: see storetest.BenchmarkDispatch.
//
//	go test ./internal/store/sqlite -run '^$' -bench Dispatch -benchtime 100000x
func BenchmarkDispatch(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkDispatch(b, s)
}
