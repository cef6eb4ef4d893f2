package postgres

import (
	"slices"
	"testing"
)

// TestStatementsSplitRunsAtRepeatedTasks: ops in lock order become one
// statement per kind between ops of no kind, and a second op on a task
// starts a new run, so that no statement writes a task twice and the two
// ops keep their order. Within a run, inserts go first.
func TestStatementsSplitRunsAtRepeatedTasks(t *testing.T) {
	create, end := &kind{sql: "create"}, &kind{sql: "end", existing: true}
	for _, k := range []*kind{create, end} {
		k.arrays = func(ops []*op) []any { return []any{column[string](ops, 0)} }
	}
	o := func(k *kind, queue, task string) *op {
		return &op{kind: k, sql: "plain", args: []any{queue + "/" + task}, queue: queue, task: task}
	}
	ops := []*op{
		{sql: "lock"},
		o(create, "q", "a"), o(end, "q", "a"), o(end, "q", "b"), o(create, "q", "c"), o(create, "r", "a"),
		{sql: "notify"},
	}
	type want struct {
		sql  string
		rows []string
	}
	var got []want
	for _, st := range statements(ops) {
		w := want{sql: st.sql}
		if st.sql == "create" || st.sql == "end" {
			w.rows = st.args[0].([]string)
		}
		got = append(got, w)
	}
	exp := []want{
		{sql: "lock"},
		{"create", []string{"q/a"}},
		{"create", []string{"q/c", "r/a"}},
		{"end", []string{"q/a", "q/b"}},
		{sql: "notify"},
	}
	if !slices.EqualFunc(got, exp, func(a, b want) bool { return a.sql == b.sql && slices.Equal(a.rows, b.rows) }) {
		t.Fatalf("statements:\n got %v\nwant %v", got, exp)
	}
}
