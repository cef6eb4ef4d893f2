package console

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opentasks/opentasks/internal/metrics"
)

// screenshotsEnv names the directory TestScreenshots writes the README's
// pictures to; the test skips when it is unset:
//
//	OPENTASKS_CONSOLE_SCREENSHOTS=$PWD/docs go test -run Screenshots ./internal/console
const screenshotsEnv = "OPENTASKS_CONSOLE_SCREENSHOTS"

// demoStats are made-up live numbers, so that the pictures show what the
// metrics fill in.
func demoStats(queue string) metrics.QueueStats {
	seed := float64(len(queue) % 7)
	var st metrics.QueueStats
	for i := range 60 {
		v := 40 + 30*math.Sin(float64(i)/6+seed) + 15*math.Sin(float64(i)/2.3)
		st.Deliveries = append(st.Deliveries, int64(max(v, 0)))
	}
	last := st.Deliveries[54:]
	for _, v := range last {
		st.AttemptsLastMinute += v
	}
	st.FailuresLastMinute = int64(seed) % 3
	return st
}

func TestScreenshots(t *testing.T) {
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		t.Skip(screenshotsEnv + " is unset: no pictures to take")
	}
	s := newStack(t, func(c *Config) {
		real := c.Metrics
		c.Metrics = fakeMetrics{real, func(queue string) metrics.QueueStats {
			st, live := demoStats(queue), real.QueueStats(queue)
			st.Depth, st.InFlight = live.Depth, live.InFlight // as they really are
			return st
		}}
	})
	ctx := context.Background()
	ok, _ := target(t, 200)
	failing, _ := target(t, 503)
	release := make(chan struct{})
	arrived := make(chan struct{}, 8)
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(release) })

	orders := "projects/shop/locations/us-central1/queues/orders"
	for _, q := range []*cloudtaskspb.Queue{
		{Name: orders, RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 50, MaxConcurrentDispatches: 20},
			RetryConfig:              &cloudtaskspb.RetryConfig{MaxAttempts: 10, MinBackoff: durationpb.New(5 * time.Minute), MaxBackoff: durationpb.New(time.Hour), MaxDoublings: 4},
			StackdriverLoggingConfig: &cloudtaskspb.StackdriverLoggingConfig{SamplingRatio: 1}},
		{Name: "projects/shop/locations/us-central1/queues/emails", RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 10}},
		{Name: "projects/shop/locations/us-central1/queues/invoices"},
		{Name: "projects/analytics/locations/europe-west1/queues/ingest", RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 200, MaxConcurrentDispatches: 100}},
		{Name: "projects/analytics/locations/europe-west1/queues/nightly-reports"},
	} {
		if _, err := s.api.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: parentOf(q.Name), Queue: q}); err != nil {
			t.Fatal(err)
		}
	}
	s.queue(t, "projects/shop/locations/us-central1/queues/refunds", true)
	for i := range 3 {
		task := httpTask(ok.URL+"/later", `{"kind":"reminder"}`)
		task.ScheduleTime = timestamppb.New(time.Now().Add(time.Duration(5+i*7) * time.Minute))
		s.task(t, orders, task)
		task = httpTask(ok.URL+"/report", "")
		task.ScheduleTime = timestamppb.New(time.Now().Add(time.Duration(2+i) * time.Hour))
		s.task(t, "projects/analytics/locations/europe-west1/queues/nightly-reports", task)
	}
	var shown *cloudtaskspb.Task
	for i := range 3 {
		task := httpTask(failing.URL+"/charge", `{"order":"A-1042","amount":{"currency":"EUR","value":"129.90"},"items":[{"sku":"TSHIRT-M","qty":2},{"sku":"MUG","qty":1}]}`)
		task.GetHttpRequest().Headers["X-Request-Source"] = "checkout"
		if i == 0 {
			shown = s.task(t, orders, task)
		} else {
			s.task(t, orders, task)
		}
	}
	for range 2 {
		s.task(t, orders, httpTask(hanging.URL+"/slow-export", ""))
	}
	for range 3 {
		<-s.outcomes // the failures, rescheduled
	}
	for range 2 {
		<-arrived // the slow ones, in flight
	}

	// Desktop pictures show the whole page, phone ones the first screen.
	shoot := func(tb *tab, path, file string, width, height int64) {
		t.Helper()
		tb.do(t, "opening "+path, chromedp.EmulateViewport(width, height), chromedp.Navigate(s.URL+path), chromedp.WaitVisible(chromedp.CSS(`main`)))
		take := chromedp.FullScreenshot(100)
		if width < 720 {
			take = chromedp.CaptureScreenshot()
		}
		png := get(t, tb, "taking "+file, take)
		if err := os.WriteFile(filepath.Join(dir, file), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tb := newTab(t, 1280, 800)
	shoot(tb, "/console/", "console-queues.png", 1280, 800)
	shoot(tb, "/console/"+orders, "console-queue.png", 1280, 800)
	shoot(tb, "/console/"+shown.GetName(), "console-task.png", 1280, 800)
	phone := newTab(t, 390, 844)
	shoot(phone, "/console/"+orders, "console-phone.png", 390, 844)
	shoot(phone, "/console/", "console-queues-phone.png", 390, 844)
}
