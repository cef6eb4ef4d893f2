package cli

import (
	"fmt"
	"io"
	"runtime/debug"
)

// VersionInfo is what `opentasks version` says about a build.
type VersionInfo struct {
	Version  string // module version, "(devel)" for a build from a checkout
	Commit   string // VCS revision, "" when the build recorded none
	Modified bool   // the checkout had uncommitted changes
	Go       string
}

// BuildVersion reads the version from the binary's build information.
// The commit is there only when the build stamped it: `go build` in a git
// checkout does unless -buildvcs=false (set in GOFLAGS on some machines)
// or git is missing; `go run` and `go test` never do.
func BuildVersion(bi *debug.BuildInfo, ok bool) VersionInfo {
	v := VersionInfo{Version: "(unknown)"}
	if !ok || bi == nil {
		return v
	}
	v.Go = bi.GoVersion
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// PrintVersion is `opentasks version`.
func PrintVersion(w io.Writer, v VersionInfo) {
	commit := v.Commit
	switch {
	case commit == "":
		commit = "unknown (the build recorded none: built with -buildvcs=false, outside a git checkout, or with go run)"
	case v.Modified:
		commit += " (modified)"
	}
	fmt.Fprintf(w, "opentasks %s\ncommit %s\n%s\n", v.Version, commit, v.Go)
}
