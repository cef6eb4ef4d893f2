package reload_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opentasks/opentasks/internal/reload"
)

func upper(c [][]byte) (string, error) {
	s := string(c[0])
	if s == "bad" {
		return "", errors.New("bad contents")
	}
	return strings.ToUpper(s), nil
}

// TestFile: a change is seen at the first Get after the interval, not
// before; a failed reload keeps the value and is reported.
func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var errs []error
	f, err := reload.New(upper, []string{path}, reload.WithClock(clock),
		reload.OnError(func(err error) { errs = append(errs, err) }))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Get(); got != "ONE" {
		t.Fatalf("Get = %q", got)
	}
	write("two!")
	if got := f.Get(); got != "ONE" {
		t.Fatalf("within the interval, Get = %q", got)
	}
	mu.Lock()
	now = now.Add(reload.DefaultInterval)
	mu.Unlock()
	if got := f.Get(); got != "TWO!" {
		t.Fatalf("after the interval, Get = %q", got)
	}
	write("bad")
	mu.Lock()
	now = now.Add(reload.DefaultInterval)
	mu.Unlock()
	if got := f.Get(); got != "TWO!" || len(errs) != 1 {
		t.Fatalf("after a bad write, Get = %q, errors %v", got, errs)
	}
	if _, err := reload.New(upper, []string{path}); err == nil {
		t.Fatal("New accepted a file it cannot parse")
	}
}
