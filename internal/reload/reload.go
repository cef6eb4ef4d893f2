// Package reload keeps values derived from files (bearer tokens, IAM
// policies, TLS certificates) current while the server runs. A File is
// checked when it is used, at most once per interval, by comparing the
// files' size and modification time; there is no watcher goroutine, so
// nothing needs stopping and a rotation that replaces files by rename
// (as Kubernetes does with secrets) is seen like an edit in place.
//
// A reload that fails (a half-written file, a certificate whose key has
// not been written yet) keeps the previous value and is tried again at
// the next check, so a rotation never leaves the server without one.
package reload

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultInterval is how often a File looks at its files at most.
const DefaultInterval = time.Second

// File is a value parsed from one or more files, re-parsed when they change.
type File[T any] struct {
	paths    []string
	parse    func(contents [][]byte) (T, error)
	interval time.Duration
	now      func() time.Time
	onError  func(error)

	value   atomic.Pointer[T]
	checked atomic.Int64 // UnixNano of the last look at the files

	mu    sync.Mutex // held while looking
	stamp []stamp
}

type stamp struct {
	size int64
	mod  time.Time
}

// Option configures New.
type Option func(*options)

type options struct {
	interval time.Duration
	now      func() time.Time
	onError  func(error)
}

// WithInterval sets how often the files are checked at most; 0 checks at
// every Get.
func WithInterval(d time.Duration) Option { return func(o *options) { o.interval = d } }

// WithClock sets the clock that paces the checks.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// OnError is told about every failed reload (the previous value stays).
func OnError(f func(error)) Option { return func(o *options) { o.onError = f } }

// New reads and parses paths once; an error here is the caller's to
// report (the server should not start without its credentials).
func New[T any](parse func(contents [][]byte) (T, error), paths []string, opts ...Option) (*File[T], error) {
	o := options{interval: DefaultInterval, now: time.Now, onError: func(error) {}}
	for _, opt := range opts {
		opt(&o)
	}
	f := &File[T]{paths: paths, parse: parse, interval: o.interval, now: o.now, onError: o.onError}
	st, err := f.stat()
	if err != nil {
		return nil, err
	}
	if err := f.load(st); err != nil {
		return nil, err
	}
	f.checked.Store(f.now().UnixNano())
	return f, nil
}

// Get returns the current value, reloading it first if the files changed.
// Between looks it costs two atomic loads (it is on every call's path).
func (f *File[T]) Get() T {
	now := f.now()
	if f.fresh(now) {
		return *f.value.Load()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fresh(now) { // another caller just looked
		return *f.value.Load()
	}
	f.checked.Store(now.UnixNano())
	st, err := f.stat()
	if err != nil {
		f.onError(err)
	} else if !sameStamps(st, f.stamp) {
		if err := f.load(st); err != nil {
			f.onError(err)
		}
	}
	return *f.value.Load()
}

func (f *File[T]) fresh(now time.Time) bool {
	return f.interval > 0 && now.Sub(time.Unix(0, f.checked.Load())) < f.interval
}

func (f *File[T]) stat() ([]stamp, error) {
	st := make([]stamp, len(f.paths))
	for i, p := range f.paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		st[i] = stamp{fi.Size(), fi.ModTime()}
	}
	return st, nil
}

// load parses the files and, on success, remembers st as what was loaded.
func (f *File[T]) load(st []stamp) error {
	contents := make([][]byte, len(f.paths))
	for i, p := range f.paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		contents[i] = b
	}
	v, err := f.parse(contents)
	if err != nil {
		return fmt.Errorf("loading %v: %w", f.paths, err)
	}
	f.value.Store(&v)
	f.stamp = st
	return nil
}

func sameStamps(a, b []stamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].size != b[i].size || !a[i].mod.Equal(b[i].mod) {
			return false
		}
	}
	return true
}
