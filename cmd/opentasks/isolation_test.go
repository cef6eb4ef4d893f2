package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cloudtasksapi "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const isoParent = "projects/p/locations/us-central1"

// TestHungQueueDelaysNoOther: a queue with 2,000 attempts its target never
// answers (deadline 300 s) delays no other queue: 200 tasks due at 100/s
// on a healthy queue all arrive, p99 lateness under 50 ms idle. On main before
// this change none of the 200 arrived: the hung queue held every place of
// --max-in-flight.
func TestHungQueueDelaysNoOther(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real server with 2,000 hung attempts")
	}
	runIsolation(t, 1, 2000)
}

// TestTwentyThousandHungAttempts is the same with 20,000 hung attempts
// over four queues (5,000 each, Cloud Tasks' most). It needs about 95 s,
// 2 GB in the server (at GOGC=400) and 4,000 sockets in the test, so it
// runs only when OPENTASKS_TEST_HEAVY is set (docs/isolation.md has its
// figures).
func TestTwentyThousandHungAttempts(t *testing.T) {
	if testing.Short() || os.Getenv("OPENTASKS_TEST_HEAVY") == "" {
		t.Skip("set OPENTASKS_TEST_HEAVY=1 to run 20,000 hung attempts")
	}
	runIsolation(t, 4, 5000)
}

// hungTarget accepts connections, reads what comes and never answers.
type hungTarget struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newHungTarget(t *testing.T) *hungTarget {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hungTarget{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			go func() {
				buf := make([]byte, 512)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, c := range h.conns {
			c.Close()
		}
	})
	return h
}

func (h *hungTarget) url() string { return "http://" + h.ln.Addr().String() + "/hung" }

func runIsolation(t *testing.T, hungQueues, perQueue int) {
	ctx := deadline(t, 5*time.Minute)
	p := startProcess(t, "--store", "sqlite:"+filepath.Join(t.TempDir(), "tasks.db"))
	c := grpcClient(t, p.addr)
	before := serverFigures(t, p)

	var hung []*cloudtaskspb.Queue
	for i := range hungQueues {
		target := newHungTarget(t)
		q := isoQueue(ctx, t, c, fmt.Sprintf("hung%d", i), int32(perQueue))
		hung = append(hung, q)
		createTasks(ctx, t, c, q.Name, perQueue, func(int) *cloudtaskspb.Task {
			return &cloudtaskspb.Task{
				MessageType:      &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: target.url()}},
				DispatchDeadline: durationpb.New(300 * time.Second),
			}
		})
	}
	for _, q := range hung {
		waitDispatched(ctx, t, c, q.Name, perQueue)
	}
	loaded := serverFigures(t, p)
	n := hungQueues * perQueue
	t.Logf("%d hung attempts: server RSS %.1f MB (+%.1f), fds %d (+%d), goroutines %d (+%d), target connections %d, heap %.1f MB, stacks %.1f MB",
		n, mb(loaded.rss), mb(loaded.rss-before.rss), loaded.fds, loaded.fds-before.fds,
		loaded.Goroutines, loaded.Goroutines-before.Goroutines, loaded.TargetConns, mb(int64(loaded.HeapInuse)), mb(int64(loaded.StackInuse)))
	t.Logf("per hung attempt: %.1f KB resident, %.2f goroutines, %.2f fds",
		float64(loaded.rss-before.rss)/1024/float64(n), float64(loaded.Goroutines-before.Goroutines)/float64(n), float64(loaded.fds-before.fds)/float64(n))

	// The healthy queue: 200 tasks due at 100/s from 3 seconds ahead (all
	// created before the first is due).
	const healthy = 200
	arrived := make(chan string, healthy)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.Header.Get("X-CloudTasks-TaskName") + " " + strconv.FormatInt(time.Now().UnixNano(), 10)
	}))
	t.Cleanup(good.Close)
	gq := isoQueue(ctx, t, c, "good", 0)
	start := time.Now().Add(3 * time.Second).Truncate(time.Millisecond)
	due := func(i int) time.Time { return start.Add(time.Duration(i) * 10 * time.Millisecond) }
	createTasks(ctx, t, c, gq.Name, healthy, func(i int) *cloudtaskspb.Task {
		return &cloudtaskspb.Task{
			Name:         fmt.Sprintf("%s/tasks/g%03d", gq.Name, i),
			ScheduleTime: timestamppb.New(due(i)),
			MessageType:  &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{Url: good.URL}},
		}
	})
	if time.Now().After(start) {
		t.Fatalf("creating %d tasks took past the first one's schedule time", healthy)
	}
	late := make([]time.Duration, 0, healthy)
	for range healthy {
		select {
		case a := <-arrived:
			name, at, _ := strings.Cut(a, " ")
			i, _ := strconv.Atoi(strings.TrimPrefix(name, "g"))
			ns, _ := strconv.ParseInt(at, 10, 64)
			late = append(late, time.Unix(0, ns).Sub(due(i)))
			if l := late[len(late)-1]; l > 20*time.Millisecond {
				t.Logf("%s late by %v", name, l)
			}
		case <-ctx.Done():
			t.Fatalf("%d of %d healthy tasks arrived", len(late), healthy)
		}
	}
	slices.Sort(late)
	p50, p99, worst := late[len(late)/2], late[len(late)*99/100-1], late[len(late)-1]
	t.Logf("healthy queue beside %d hung attempts: lateness p50 %v, p99 %v, max %v", n, p50, p99, worst)
	// The figure is p99 under 50 ms, met on an idle machine (see
	// docs/isolation.md). Under -race beside the rest of the suite on two
	// cores, scheduling noise alone reaches 100-200 ms; a queue actually
	// held up by its neighbour is late by seconds or never served. The
	// bound separates those two and leaves the figure to the log line.
	if p99 >= 500*time.Millisecond {
		t.Errorf("p99 lateness %v: the healthy queue was held up (want under 500ms here, 50ms idle)", p99)
	}
	// The hung attempts were still in flight all along.
	for _, q := range hung {
		waitDispatched(ctx, t, c, q.Name, perQueue)
	}
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// isoQueue creates a queue at Cloud Tasks' highest rate; concurrent 0
// keeps the default (1,000).
func isoQueue(ctx context.Context, t *testing.T, c *cloudtasksapi.Client, id string, concurrent int32) *cloudtaskspb.Queue {
	t.Helper()
	q, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: isoParent, Queue: &cloudtaskspb.Queue{
		Name:       isoParent + "/queues/" + id,
		RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 500, MaxConcurrentDispatches: concurrent},
	}})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", id, err)
	}
	return q
}

// createTasks creates n tasks made by task over 16 callers.
func createTasks(ctx context.Context, t *testing.T, c *cloudtasksapi.Client, queue string, n int, task func(i int) *cloudtaskspb.Task) {
	t.Helper()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			_, err := c.CreateTask(gctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: task(i)})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("CreateTask in %s: %v", queue, err)
	}
}

// waitDispatched waits until every one of the queue's n tasks has an
// attempt in flight: dispatched, and not answered.
func waitDispatched(ctx context.Context, t *testing.T, c *cloudtasksapi.Client, queue string, n int) {
	t.Helper()
	poll(t, ctx, fmt.Sprintf("%d attempts in flight in %s", n, queue), func() (bool, error) {
		tasks := listAll(ctx, t, c, queue)
		if len(tasks) != n {
			return false, fmt.Errorf("%s holds %d tasks, want %d", queue, len(tasks), n)
		}
		for _, tk := range tasks {
			if tk.DispatchCount != 1 || tk.ResponseCount != 0 || tk.GetLastAttempt().GetResponseTime() != nil {
				return false, nil
			}
		}
		return true, nil
	})
}

// figures is what the server process costs: resident memory and open
// files from /proc, and its own runtime counts.
type figures struct {
	rss int64
	fds int
	runtimeStats
}

func serverFigures(t *testing.T, p *process) figures {
	t.Helper()
	var f figures
	pid := p.cmd.Process.Pid
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			f.rss = kb << 10
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	f.fds = len(fds)
	res, err := http.Get("http://" + p.addr + runtimePath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&f.runtimeStats); err != nil {
		t.Fatal(err)
	}
	return f
}
