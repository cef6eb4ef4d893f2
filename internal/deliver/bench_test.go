package deliver_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"

	"github.com/opentasks/opentasks/internal/cpubench"
	"github.com/opentasks/opentasks/internal/deliver"
)

// BenchmarkDeliver compares an attempt's cost with a plain keep-alive
// client's request to the same target (the load generator's ceiling), from
// 64 goroutines, and reports the process's CPU time per request (target
// included).
func BenchmarkDeliver(b *testing.B) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer target.Close()
	q := &cloudtaskspb.Queue{Name: "projects/p/locations/l/queues/q1"}
	task := httpTask(target.URL+"/", nil)
	b.Run("attempt", func(b *testing.B) {
		d := deliver.New(deliver.Config{})
		defer d.Close()
		parallel(b, func() {
			a := &deliver.Attempt{Queue: q, Task: task, QueueID: "q1", TaskID: "t1"}
			if res := d.Deliver(context.Background(), a); res.Status != http.StatusOK {
				b.Errorf("Deliver = %+v", res)
			}
		})
	})
	b.Run("plain", func(b *testing.B) {
		tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		parallel(b, func() {
			res, err := client.Post(target.URL+"/", "", strings.NewReader(`{"n":1}`))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		})
	})
}

func parallel(b *testing.B, op func()) {
	b.SetParallelism(32) // 64 goroutines on 2 cores
	report := cpubench.Start(b, "cpu-µs/op")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			op()
		}
	})
	report()
}
