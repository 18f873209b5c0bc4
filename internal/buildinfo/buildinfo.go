// Package buildinfo says which itcd this is: the version it was built
// from, the Go release and the target it was built for.
//
// The version comes, in this order, from Version (set by the Makefile and
// `make deb` with -ldflags "-X github.com/t2tiles/itcd/internal/buildinfo.Version=$(git describe --tags --always --dirty)"),
// from the VCS stamp the go command embeds in a build inside a git work
// tree (vcs.revision, vcs.modified), from the module version of a `go
// install ...@vX`, and is "devel" otherwise (go test, go run outside git).
// The rejected alternative was a version file in the repository: it is
// stale the moment a commit lands without editing it.
//
// Wire returns the version as a tile tells its neighbours in its hellos
// (daemon.Hello.Build): at most WireMax printable ASCII bytes.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Version overrides the version read from the build's VCS stamp; the
// Makefile sets it from git describe. Empty: not set.
var Version string

// Devel is the version of a build that carries no version at all.
const Devel = "devel"

// Where the version came from.
const (
	SourceLdflags = "ldflags" // Version, set at link time
	SourceVCS     = "vcs"     // the go command's vcs.revision stamp
	SourceModule  = "module"  // the main module's version (go install ...@vX)
	SourceNone    = "none"    // nothing: Devel
)

// Info is what a build says of itself.
type Info struct {
	Version  string `json:"version"`            // git describe, a revision or Devel
	Source   string `json:"version_source"`     // one of the Source constants
	Revision string `json:"revision,omitempty"` // the full commit hash, when stamped
	Time     string `json:"commit_time,omitempty"`
	Modified bool   `json:"modified,omitempty"` // built from a work tree with uncommitted changes
	Go       string `json:"go"`                 // the Go release that built it
	GOOS     string `json:"goos"`
	GOARCH   string `json:"goarch"`
	GOARM    string `json:"goarm,omitempty"` // the ARM level (7 on a tile), when GOARCH is arm
}

// Read returns this binary's Info.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	i := From(Version, bi)
	if i.Go == "" {
		i.Go = runtime.Version()
	}
	if i.GOOS == "" {
		i.GOOS, i.GOARCH = runtime.GOOS, runtime.GOARCH
	}
	return i
}

// shortRev is how many hex digits of a revision name it, as git's
// abbreviations do in a repository of this size.
const shortRev = 12

// From derives Info from an -X override and the embedded build info (nil
// when the binary has none). It is Read without the process, for tests.
func From(ldVersion string, bi *debug.BuildInfo) Info {
	var i Info
	if bi != nil {
		i.Go = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Revision = s.Value
			case "vcs.time":
				i.Time = s.Value
			case "vcs.modified":
				i.Modified = s.Value == "true"
			case "GOOS":
				i.GOOS = s.Value
			case "GOARCH":
				i.GOARCH = s.Value
			case "GOARM":
				i.GOARM = s.Value
			}
		}
	}
	switch {
	case strings.TrimSpace(ldVersion) != "":
		i.Version, i.Source = strings.TrimSpace(ldVersion), SourceLdflags
	case i.Revision != "":
		i.Version, i.Source = i.Revision[:min(shortRev, len(i.Revision))], SourceVCS
		if i.Modified {
			i.Version += "-dirty"
		}
	case bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)":
		i.Version, i.Source = bi.Main.Version, SourceModule
	default:
		i.Version, i.Source = Devel, SourceNone
	}
	return i
}

// Target is the platform the build is for, as Go names it with the ARM
// level: "linux/arm/v7" on a tile, "linux/amd64" on a bench machine.
func (i Info) Target() string {
	t := i.GOOS + "/" + i.GOARCH
	if i.GOARM != "" {
		t += "/v" + i.GOARM
	}
	return t
}

// WireMax bounds the version a hello carries: a neighbour's is kept per
// link and shown in status, so its size must not be the sender's choice.
const WireMax = 32

// Wire returns v as a hello carries it: non-printable bytes become '?'
// and the result is cut to WireMax bytes, so ValidWire holds for it.
func Wire(v string) string {
	if v == "" {
		return Devel
	}
	b := []byte(v[:min(len(v), WireMax)])
	for n, c := range b {
		if c < 0x20 || c > 0x7e {
			b[n] = '?'
		}
	}
	return string(b)
}

// ValidWire reports whether s is a version a hello may carry: 1 to
// WireMax printable ASCII bytes.
func ValidWire(s string) bool {
	if len(s) == 0 || len(s) > WireMax {
		return false
	}
	for n := 0; n < len(s); n++ {
		if s[n] < 0x20 || s[n] > 0x7e {
			return false
		}
	}
	return true
}
