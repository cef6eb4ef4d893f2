package sqlite

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// fileLock is the hold of one process on a database file: an exclusive
// flock on PATH.lock beside it, which the kernel drops when the process
// exits however it exits (kill -9 included). The SQLite store assumes a
// single owner: leases live in memory and Open ends every lease left in
// the file, so a second server on the same file would deliver the first
// one's tasks again and race its migrations. The lock file holds the
// owner's PID, for the message that refuses the second.
type fileLock struct{ f *os.File }

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("database file in use")

func lockFile(path string) (*fileLock, error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(name)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if pid := strings.TrimSpace(string(b)); pid != "" {
				holder = "process " + pid
			}
			return nil, fmt.Errorf("%w: %s is held by %s (lock file %s); one server per SQLite file, or use postgres:// to share a store", ErrLocked, path, holder, name)
		}
		return nil, fmt.Errorf("locking %s: %w", name, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &fileLock{f: f}, nil
}

// release drops the lock; the file stays, as removing it could let a
// third process lock a new file while a second waits on the old one.
func (l *fileLock) release() error { return l.f.Close() }
