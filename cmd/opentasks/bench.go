package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opentasks/opentasks/internal/loadgen"
)

const benchUsage = `usage: opentasks bench [flags]

Measures OpenTasks on this machine: the loopback HTTP ceiling, durable creates
per second, end-to-end deliveries per second across many queues, lateness
against schedule_time, and rate-limit accuracy. Unless --server is given, it
starts --nodes server processes of its own on --store.

`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("opentasks bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := loadgen.DefaultConfig()
	servers := fs.String("server", "", "comma-separated `ADDRS` of running servers to drive (default: start our own)")
	storeURL := fs.String("store", "", "store `URL` for the servers it starts (default: a fresh SQLite file)")
	nodes := fs.Int("nodes", 1, "how many servers to start on --store")
	fs.IntVar(&cfg.Callers, "callers", cfg.Callers, "concurrent CreateTask callers")
	fs.IntVar(&cfg.Queues, "queues", cfg.Queues, "queues for the delivery phase (each dispatches at most 500/s)")
	fs.IntVar(&cfg.Tasks, "tasks", cfg.Tasks, "tasks for the create and delivery phases")
	fs.Func("create-queues", "comma-separated `COUNTS` of queues to measure creates alone into, each against the loopback ceiling (\"\" skips; default 1,128)", func(v string) error {
		cfg.CreateQueues = []int{}
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				return fmt.Errorf("%q is not a queue count", f)
			}
			cfg.CreateQueues = append(cfg.CreateQueues, n)
		}
		return nil
	})
	serverPID := fs.Int("server-pid", 0, "process ID of the --server, to report its CPU per create (Linux)")
	fs.BoolVar(&cfg.CreatesOnly, "creates-only", false, "measure only the creates into --create-queues (of any implementation of the API, with --server)")
	fs.DurationVar(&cfg.Ceiling, "ceiling-for", cfg.Ceiling, "how long to measure the loopback ceiling")
	fs.IntVar(&cfg.LatenessRate, "lateness-rate", cfg.LatenessRate, "offered tasks/s in the lateness phase")
	fs.DurationVar(&cfg.LatenessFor, "lateness-for", cfg.LatenessFor, "length of the lateness phase")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "configured max_dispatches_per_second of the rate phase")
	fs.IntVar(&cfg.RateTasks, "rate-tasks", cfg.RateTasks, "tasks in the rate phase")
	fs.IntVar(&cfg.Pending, "pending", 0, "if set, future tasks to add while measuring the first server's RSS (needs servers it starts)")
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *servers != "" {
		cfg.Servers = strings.Split(*servers, ",")
	} else {
		if *storeURL == "" {
			dir, err := os.MkdirTemp("", "opentasks-bench")
			if err != nil {
				fmt.Fprintln(stderr, "opentasks bench:", err)
				return 1
			}
			defer os.RemoveAll(dir)
			*storeURL = "sqlite:" + filepath.Join(dir, "bench.db")
		}
		for i := range *nodes {
			p, err := startNode(ctx, *storeURL, stderr)
			if err != nil {
				fmt.Fprintf(stderr, "opentasks bench: starting server %d: %v\n", i, err)
				return 1
			}
			defer p.stop()
			cfg.Servers = append(cfg.Servers, p.addr)
			if i == 0 {
				cfg.Memory = procMemory(p.cmd.Process.Pid)
			}
			if *nodes == 1 {
				*serverPID = p.cmd.Process.Pid
			}
		}
	}
	if *serverPID > 0 {
		cfg.ServerCPU = procCPU(*serverPID)
	}
	fmt.Fprintf(stdout, "opentasks bench: servers %v, %d callers, %d tasks over %d queues\n",
		cfg.Servers, cfg.Callers, cfg.Tasks, cfg.Queues)
	r, err := loadgen.Run(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "opentasks bench:", err)
		return 1
	}
	r.WriteTo(stdout)
	return 0
}

// node is a server process that bench started.
type node struct {
	cmd  *exec.Cmd
	addr string
}

// startNode starts `opentasks serve` on storeURL, with args after the
// defaults (a later flag wins).
func startNode(ctx context.Context, storeURL string, stderr io.Writer, args ...string) (*node, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"serve", "--addr", "127.0.0.1:0", "--store", storeURL, "--log-level", "warn"}, args...)...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if _, rest, ok := strings.Cut(lines.Text(), "serving on http://"); ok {
			addr, _, _ := strings.Cut(rest, " ")
			go io.Copy(io.Discard, out)
			return &node{cmd: cmd, addr: addr}, nil
		}
	}
	cmd.Process.Kill()
	return nil, fmt.Errorf("server exited before serving: %v", cmd.Wait())
}

func (n *node) stop() {
	n.cmd.Process.Signal(os.Interrupt)
	n.cmd.Wait()
}

// procCPU reads a process's user and system CPU time from /proc.
func procCPU(pid int) func() (time.Duration, error) {
	return func() (time.Duration, error) {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, err
		}
		// After the command name (which may hold spaces), utime and stime
		// are the 12th and 13th fields, in clock ticks (100 a second).
		_, rest, _ := strings.Cut(string(raw), ") ")
		f := strings.Fields(rest)
		if len(f) < 13 {
			return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
		}
		var ticks int64
		for _, s := range f[11:13] {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
			}
			ticks += v
		}
		return time.Duration(ticks) * 10 * time.Millisecond, nil
	}
}

// procMemory reads a process's resident memory from /proc (proc(5)).
type procMemory int

func (pid procMemory) Resident() (now, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	fields := map[string]*int64{"VmRSS": &now, "VmHWM": &peak}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, _ := strings.Cut(line, ":")
		to, ok := fields[name]
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, name, err)
		}
		*to = kb * 1024
		delete(fields, name)
	}
	for name := range fields {
		return 0, 0, fmt.Errorf("/proc/%d/status: no %s", pid, name)
	}
	return now, peak, nil
}

// ResetPeak sets the peak to the resident size now.
func (pid procMemory) ResetPeak() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}
