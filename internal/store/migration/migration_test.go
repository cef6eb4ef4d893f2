package migration

import (
	"testing"
	"testing/fstest"
)

func TestNewer(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_b.sql":  {Data: []byte("B")},
		"m/0010_c.sql":  {Data: []byte("C")},
		"m/0001_a.sql":  {Data: []byte("A")},
		"bad/x_1.sql":   {Data: []byte("X")},
		"dup/01_a.sql":  {Data: []byte("A")},
		"dup/001_b.sql": {Data: []byte("B")},
	}
	got, err := Newer(fsys, "m", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Version != 2 || got[0].SQL != "B" || got[1].Version != 10 || got[1].Name != "0010_c.sql" {
		t.Fatalf("Newer(applied 1) = %+v, want 0002_b then 0010_c", got)
	}
	if _, err := Newer(fsys, "bad", 0); err == nil {
		t.Error("a file without a version number was accepted")
	}
	if _, err := Newer(fsys, "dup", 0); err == nil {
		t.Error("two migrations with one version were accepted")
	}
}
