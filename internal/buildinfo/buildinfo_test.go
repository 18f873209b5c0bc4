package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func settings(kv ...string) []debug.BuildSetting {
	var s []debug.BuildSetting
	for n := 0; n+1 < len(kv); n += 2 {
		s = append(s, debug.BuildSetting{Key: kv[n], Value: kv[n+1]})
	}
	return s
}

func TestFrom(t *testing.T) {
	const rev = "204e96cabcdef0123456789abcdef0123456789a"
	arm := settings("GOOS", "linux", "GOARCH", "arm", "GOARM", "7", "vcs.revision", rev, "vcs.time", "2026-11-30T23:00:00Z", "vcs.modified", "false")
	tests := []struct {
		name     string
		ld       string
		bi       *debug.BuildInfo
		version  string
		source   string
		target   string
		modified bool
	}{
		{"ldflags win over the stamp", "v0.3.0-2-g204e96c-dirty", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: arm},
			"v0.3.0-2-g204e96c-dirty", SourceLdflags, "linux/arm/v7", false},
		{"a stamped revision", "", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: arm},
			"204e96cabcde", SourceVCS, "linux/arm/v7", false},
		{"a modified tree", "", &debug.BuildInfo{Settings: settings("GOOS", "linux", "GOARCH", "amd64", "vcs.revision", rev, "vcs.modified", "true")},
			"204e96cabcde-dirty", SourceVCS, "linux/amd64", true},
		{"a short revision is kept whole", "", &debug.BuildInfo{Settings: settings("vcs.revision", "abc")},
			"abc", SourceVCS, "/", false},
		{"go install at a tag", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}},
			"v1.2.3", SourceModule, "/", false},
		{"go test: nothing", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			Devel, SourceNone, "/", false},
		{"no build info", " ", nil, Devel, SourceNone, "/", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i := From(tc.ld, tc.bi)
			if i.Version != tc.version || i.Source != tc.source || i.Target() != tc.target || i.Modified != tc.modified {
				t.Errorf("From = %+v (target %q); want version %q source %q target %q modified %v",
					i, i.Target(), tc.version, tc.source, tc.target, tc.modified)
			}
		})
	}
}

func TestRead(t *testing.T) {
	i := Read()
	if i.Version == "" || i.Go != runtime.Version() || i.GOOS != runtime.GOOS || i.GOARCH != runtime.GOARCH {
		t.Fatalf("Read = %+v; want a version and this process's Go %s %s/%s", i, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	if !ValidWire(Wire(i.Version)) {
		t.Fatalf("Wire(%q) = %q is not valid on the wire", i.Version, Wire(i.Version))
	}
}

func TestWire(t *testing.T) {
	long := strings.Repeat("v", WireMax+5)
	tests := []struct {
		in, want string
	}{
		{"v1.0.0", "v1.0.0"},
		{"", Devel},
		{long, long[:WireMax]},
		{"v1\x00\n\xff", "v1???"},
		{"ünï", "??n??"},
	}
	for _, tc := range tests {
		got := Wire(tc.in)
		if got != tc.want || !ValidWire(got) {
			t.Errorf("Wire(%q) = %q (valid %v), want %q", tc.in, got, ValidWire(got), tc.want)
		}
	}
	for _, bad := range []string{"", long[:WireMax+1], "a\x7f", "tab\there", "\x00"} {
		if ValidWire(bad) {
			t.Errorf("ValidWire(%q) = true", bad)
		}
	}
	if !ValidWire(" ~") || !ValidWire(long[:WireMax]) {
		t.Error("ValidWire refused printable ASCII of WireMax bytes or fewer")
	}
}
