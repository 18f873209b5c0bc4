package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/internal/buildinfo"
)

func TestVersionCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := dispatch([]string{"version", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("itcd version --json: exit %d, %s", code, errb.String())
	}
	var r versionReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("itcd version --json: %v\n%s", err, out.String())
	}
	want := buildinfo.Read()
	if r.Version != want.Version || r.Go != want.Go || r.Target != want.Target() {
		t.Errorf("version %q go %q target %q; want %q %q %q", r.Version, r.Go, r.Target, want.Version, want.Go, want.Target())
	}
	names := map[string]int{}
	for _, w := range r.Wire {
		names[w.Name] = w.Version
	}
	if names["liveness hello"] != daemon.ProtocolVersion || names["UDP link frames"] != 3 || names["MFZ signed file"] != 3 {
		t.Errorf("wire versions %v", names)
	}
	if _, ok := names["signed-file distribution"]; !ok {
		t.Errorf("wire versions %v lack the signed-file service", names)
	}

	out.Reset()
	if code := dispatch([]string{"version"}, &out, &errb); code != 0 {
		t.Fatalf("itcd version: exit %d", code)
	}
	for _, s := range []string{"itcd " + want.Version, want.Go + " " + want.Target(), "liveness hello", "service 1", "version 3 (reads versions 1 to 3)", "UDP link frames"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("itcd version lacks %q:\n%s", s, out.String())
		}
	}
	if code := dispatch([]string{"version", "x"}, &out, &errb); code != 2 {
		t.Errorf("itcd version x: exit %d, want 2", code)
	}
}

// The first line `itcd run` logs names the build and the wire versions.
func TestVersionLogAttrs(t *testing.T) {
	r := versionReport{Info: buildinfo.Info{Version: "v1", Go: "go1.26.8"}, Target: "linux/arm/v7", Wire: wireFormats()}
	got := r.logAttrs()
	want := []any{"version", "v1", "go", "go1.26.8", "target", "linux/arm/v7", "liveness_hello", daemon.ProtocolVersion, "udp_frames", 3, "mfz_file", 3}
	if len(got) != len(want) {
		t.Fatalf("logAttrs = %v, want %v", got, want)
	}
	for n := range got {
		if got[n] != want[n] {
			t.Fatalf("logAttrs = %v, want %v", got, want)
		}
	}
}
