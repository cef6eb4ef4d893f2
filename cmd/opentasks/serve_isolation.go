package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"syscall"
	"time"

	"github.com/opentasks/opentasks/internal/deliver"
)

// fdReserve is how many file descriptors are kept out of the targets'
// reach, for API clients, the store and the server's own files.
const fdReserve = 1024

// isolationFlags bound what one target can take from the others.
type isolationFlags struct {
	maxConnsPerHost int
	connectTimeout  time.Duration
	slowAfter       time.Duration
}

func (f *isolationFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.maxConnsPerHost, "max-conns-per-host", 1000, "most connections open to one target (host:port); attempts beyond wait for one")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", 10*time.Second, "how long an attempt waits to connect to its target")
	fs.DurationVar(&f.slowAfter, "slow-after", time.Second, "how long an attempt waits for its target before it stops counting against --max-in-flight")
}

func (f *isolationFlags) check() error {
	switch {
	case f.maxConnsPerHost < 1:
		return fmt.Errorf("--max-conns-per-host %d: must be at least 1", f.maxConnsPerHost)
	case f.connectTimeout <= 0:
		return fmt.Errorf("--connect-timeout %v: must be positive", f.connectTimeout)
	case f.slowAfter <= 0:
		return fmt.Errorf("--slow-after %v: must be positive", f.slowAfter)
	}
	return nil
}

// deliverConfig sets cfg's connection bounds: per target from the flags,
// and for all targets together what the open-file limit leaves beyond
// fdReserve (Go raises the soft limit to the hard one at start). Targets
// are dialled with dial (the target policy's), within --connect-timeout.
func (f *isolationFlags) deliverConfig(cfg deliver.Config, dial func(ctx context.Context, network, addr string) (net.Conn, error)) deliver.Config {
	cfg.MaxConnsPerHost = f.maxConnsPerHost
	cfg.ConnectTimeout = f.connectTimeout
	cfg.Dial = func(addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), f.connectTimeout)
		defer cancel()
		return dial(ctx, "tcp", addr)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < 1<<30 {
		cfg.MaxConns = max(64, int(lim.Cur)-fdReserve)
	}
	return cfg
}

// runtimePath serves counts that show what attempts in flight cost (the
// isolation and soak tests read it): goroutines, live heap and connections to
// targets. It names nothing about tasks or configuration.
const runtimePath = "/debug/runtime"

func runtimeHandler(d *deliver.Deliverer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// Collected first, so that the heap is what is live (the server
		// runs at GOGC=400, so garbage can be most of it).
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(runtimeStats{
			Goroutines: runtime.NumGoroutine(), HeapInuse: ms.HeapInuse,
			StackInuse: ms.StackInuse, TargetConns: d.OpenConns(),
		})
	})
}

// runtimeStats is what runtimePath answers.
type runtimeStats struct {
	Goroutines  int    `json:"goroutines"`
	HeapInuse   uint64 `json:"heapInuse"`
	StackInuse  uint64 `json:"stackInuse"`
	TargetConns int    `json:"targetConns"`
}
