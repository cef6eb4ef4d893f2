package postgres_test

import (
	"testing"

	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/storetest"
)

// BenchmarkCreateTask: see storetest.BenchmarkCreateTask.
//
//	OPENTASKS_TEST_POSTGRES=postgres://root@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./internal/store/postgres -run '^$' -bench CreateTask -benchtime 100000x
func BenchmarkCreateTask(b *testing.B) {
	storetest.BenchmarkCreateTask(b, func(b *testing.B) store.Store { return open(b, schemaURL(b)) })
}

// BenchmarkDispatch: see storetest.BenchmarkDispatch.
//
//	OPENTASKS_TEST_POSTGRES=postgres://root@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./internal/store/postgres -run '^$' -bench Dispatch -benchtime 100000x
func BenchmarkDispatch(b *testing.B) {
	storetest.BenchmarkDispatch(b, open(b, schemaURL(b)))
}
