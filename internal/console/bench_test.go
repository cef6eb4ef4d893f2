package console

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"golang.org/x/sync/errgroup"
)

// BenchmarkQueuesPage renders the Queues page of 64 queues holding 800
// tasks each, as one viewer's poll does every second: the time per
// operation is the share of a core that one viewer costs.
func BenchmarkQueuesPage(b *testing.B) {
	s := newStack(b, nil)
	const queues, tasks = 64, 800
	var g errgroup.Group
	g.SetLimit(64)
	for q := range queues {
		name := fmt.Sprintf("projects/bench/locations/us-central1/queues/q%d", q)
		s.queue(b, name, true)
		for range tasks {
			g.Go(func() error {
				_, err := s.api.CreateTask(context.Background(), &cloudtaskspb.CreateTaskRequest{Parent: name, Task: httpTask("http://127.0.0.1:1/", "")})
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		// A new sample each time, as a poll a second later finds.
		s.console.sampleMu.Lock()
		clear(s.console.samples)
		s.console.sampleMu.Unlock()
		resp, err := http.Get(s.URL + "/console/")
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(resp, err)
		}
		resp.Body.Close()
	}
}
