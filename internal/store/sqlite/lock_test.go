package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opentasks/opentasks/internal/store/sqlite"
)

// TestOneOwnerPerFile: a second Open of a file already open fails with
// ErrLocked, naming the file and the holder's PID, until the first
// closes.
func TestOneOwnerPerFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tasks.db")
	first, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(ctx, path)
	if !errors.Is(err, sqlite.ErrLocked) || !strings.Contains(err.Error(), path) ||
		!strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second Open: %v, want ErrLocked naming %s and this process", err, path)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open after the first closed: %v", err)
	}
	again.Close()
}
