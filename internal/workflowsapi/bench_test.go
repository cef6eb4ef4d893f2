package workflowsapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/workflows/executions/apiv1/executionspb"

	"github.com/opentasks/opentasks/internal/workflowsapi"
)

// BenchmarkExecutions measures executions/s end to end: CreateExecution
// over gRPC by 32 callers, each waiting for its execution to end and be
// stored, on SQLite. "small" assigns and returns; "runtask" is the seed's
// RunTask workflow against one task each (created beforehand, untimed),
// whose target answers 200 at once.
func BenchmarkExecutions(b *testing.B) {
	for _, bc := range []string{"small", "runtask"} {
		b.Run(bc, func(b *testing.B) {
			st := openSQLite(b, b.TempDir())
			e := start(b, st, workflowsapi.Config{})
			ctx := context.Background()
			var args []string
			switch bc {
			case "small":
				e.deploy(b, "grpc", "small", "main:\n  params: [args]\n  steps:\n    - add:\n        assign:\n          - x: ${args.n + 1}\n    - done:\n        return: ${x}\n", nil)
				for i := range b.N {
					args = append(args, fmt.Sprintf(`{"n":%d}`, i))
				}
			case "runtask":
				target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
				b.Cleanup(target.Close)
				e.deploy(b, "grpc", "runtask", seed(b), nil)
				for i := range b.N {
					task := e.createTask(b, "bench", fmt.Sprint("t", i), target.URL)
					args = append(args, fmt.Sprintf(`{"taskName":%q}`, task))
				}
			}
			var next atomic.Int64
			var failed atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					ex, err := e.ex["grpc"].CreateExecution(ctx, &executionspb.CreateExecutionRequest{
						Parent: loc + "/workflows/" + bc, Execution: &executionspb.Execution{Argument: args[i]}})
					if err != nil {
						failed.Add(1)
						continue
					}
					<-e.svc.Finished(ex.GetName())
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "executions/s")
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d executions could not be created", n)
			}
			all, _, err := e.ex["grpc"].ListExecutions(ctx, &executionspb.ListExecutionsRequest{Parent: loc + "/workflows/" + bc, Filter: `state!="SUCCEEDED"`})
			if err != nil || len(all) > 0 {
				b.Fatalf("executions that did not succeed: %v, %v", all, err)
			}
		})
	}
}
