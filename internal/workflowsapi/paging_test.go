package workflowsapi_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/api/iterator"

	"github.com/opentasks/opentasks/internal/workflowsapi"
)

// TestListPagingUnderChange pages through executions while others are
// created and deleted between pages: the executions that exist
// throughout come each exactly once, in order, in both directions of the
// default (creation) order. Paging by offset would repeat some after the
// creations (newest first) and skip some after the deletions (oldest first).
func TestListPagingUnderChange(t *testing.T) {
	for storeName, open := range stores(t) {
		t.Run(storeName, func(t *testing.T) {
			// Every reading of the clock is a millisecond later: creation
			// times are distinct and each execution ends before the next starts.
			var ticks atomic.Int64
			base := time.Now()
			now := func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * time.Millisecond) }
			e := start(t, open(t), workflowsapi.Config{Now: now})
			ctx := context.Background()
			e.deploy(t, "grpc", "pager", "main:\n  steps:\n    - done:\n        return: 1\n", nil)
			var names []string
			var execs []*executionspb.Execution
			run := func() string {
				x := e.execute(t, "grpc", "pager", "")
				execs = append(execs, x)
				return x.GetName()
			}
			for range 10 {
				names = append(names, run())
			}
			client := e.ex["grpc"].(grpcExecutions).c
			parent := loc + "/workflows/pager"

			// pages lists by pages of 3, calling between after each page.
			pages := func(orderBy string, between func(page int)) []string {
				t.Helper()
				it := client.ListExecutions(ctx, &executionspb.ListExecutionsRequest{Parent: parent, OrderBy: orderBy})
				pager := iterator.NewPager(it, 3, "")
				var got []string
				for page := 0; ; page++ {
					var es []*executionspb.Execution
					token, err := pager.NextPage(&es)
					if err != nil {
						t.Fatalf("page %d: %v", page, err)
					}
					if len(es) > 3 {
						t.Fatalf("page %d has %d executions", page, len(es))
					}
					for _, x := range es {
						got = append(got, x.GetName())
					}
					if token == "" {
						return got
					}
					between(page)
				}
			}

			// Newest first, two created after the first page and the
			// oldest deleted after the second.
			var created []string
			got := pages("", func(page int) {
				switch page {
				case 0:
					created = append(created, run(), run())
				case 1:
					if _, err := e.st.DeleteExecutionsEndedBefore(ctx, execs[1].GetStartTime().AsTime()); err != nil {
						t.Fatal(err)
					}
				}
			})
			want := slices.Clone(names[1:])
			slices.Reverse(want)
			if !slices.Equal(got, want) {
				t.Fatalf("newest first = %v\nwant %v", got, want)
			}

			// Oldest first, the first page's executions deleted after it
			// and one more created after the second page.
			got = pages("createTime asc", func(page int) {
				switch page {
				case 0:
					if _, err := e.st.DeleteExecutionsEndedBefore(ctx, execs[4].GetStartTime().AsTime()); err != nil {
						t.Fatal(err)
					}
				case 1:
					created = append(created, run())
				}
			})
			want = slices.Concat(names[1:], created)
			if !slices.Equal(got, want) {
				t.Fatalf("oldest first = %v\nwant %v", got, want)
			}
		})
	}
}
