package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/opentasks/opentasks/internal/soak"
)

const soakUsage = `usage: opentasks soak [flags]

Runs a mixed load (creates, deletes, RunTask, pauses, purges) over many
queues, a share of them with faulty targets, then checks that every
acknowledged task was delivered or deliberately deleted. Prints the server's
resident memory, open files and goroutines as it goes. Unless --server is
given, it starts a server of its own on a fresh SQLite file.

`

func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("opentasks soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := soak.Config{}
	server := fs.String("server", "", "`ADDR` of a running server to drive (default: start our own; its figures need it to be ours)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Minute, "how long the load runs")
	fs.IntVar(&cfg.Queues, "queues", 64, "queues")
	fs.IntVar(&cfg.FaultyEvery, "faulty-every", 8, "of each this many queues, 4 have a faulty target (hung, 500, 503, reset on the first attempt)")
	fs.Float64Var(&cfg.Rate, "rate", 300, "operations per second (mostly creates)")
	fs.IntVar(&cfg.Workers, "workers", 16, "concurrent callers")
	fs.DurationVar(&cfg.Report, "report", 10*time.Second, "how often to print the server's figures")
	fs.DurationVar(&cfg.Settle, "settle", 2*time.Minute, "how long to wait at the end for the queues to empty")
	fs.Usage = func() { fmt.Fprint(stderr, soakUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if cfg.FaultyEvery < 1 || cfg.Queues < 1 || cfg.Workers < 1 || cfg.Rate <= 0 || cfg.Report <= 0 {
		fmt.Fprintln(stderr, "opentasks soak: --queues, --workers, --faulty-every, --rate and --report must be positive")
		return 2
	}
	cfg.Server = *server
	if cfg.Server == "" {
		dir, err := os.MkdirTemp("", "opentasks-soak")
		if err != nil {
			fmt.Fprintln(stderr, "opentasks soak:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		// Names stay reserved a minute rather than an hour, so that the
		// store (and its page cache) stops growing after the warm-up.
		p, err := startNode(ctx, "sqlite:"+filepath.Join(dir, "soak.db"), stderr, "--log-level", "error", "--task-tombstone", "1m")
		if err != nil {
			fmt.Fprintln(stderr, "opentasks soak: starting server:", err)
			return 1
		}
		defer p.stop()
		cfg.Server = p.addr
		cfg.Sample = func() (soak.Sample, error) { return sampleServer(p) }
	}
	r, err := soak.Run(ctx, cfg, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "opentasks soak:", err)
		return 1
	}
	r.WriteTo(stdout)
	if len(r.Lost) > 0 {
		return 1
	}
	return 0
}

// sampleServer reads a server process's resident memory and open files
// from /proc and its goroutines from its runtime endpoint.
func sampleServer(p *node) (soak.Sample, error) {
	var s soak.Sample
	rss, _, err := procMemory(p.cmd.Process.Pid).Resident()
	if err != nil {
		return s, err
	}
	s.RSS = rss
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		return s, err
	}
	s.FDs = len(fds)
	res, err := http.Get("http://" + p.addr + runtimePath)
	if err != nil {
		return s, err
	}
	defer res.Body.Close()
	var rs runtimeStats
	if err := json.NewDecoder(res.Body).Decode(&rs); err != nil {
		return s, fmt.Errorf("reading %s: %w", runtimePath, err)
	}
	s.Goroutines, s.LiveHeap = rs.Goroutines, int64(rs.HeapInuse)
	return s, nil
}
