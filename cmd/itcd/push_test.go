package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/sim/tilegrid/gridtest"
)

func TestPush(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a grid")
	}
	dir := t.TempDir()
	key, file := makeSignedFile(t, filepath.Join(dir), "physics.mfz", 20<<10)
	// A file signed by a key nobody trusts.
	other := t.TempDir()
	_, stranger := makeSignedFileWithSeed(t, other, "other.mfz", 1000, 99)

	cfg := tilegrid.DefaultConfig(2, 1)
	cfg.Dir = filepath.Join(dir, "grid")
	cfg.Profile.Rate = 512 << 10
	cfg.Trust = []string{key}
	g := gridtest.Start(t, cfg)
	runDir := g.Tile(tilegrid.Coord{X: 0, Y: 0}).RunDir

	for _, tc := range []struct {
		name      string
		args      []string
		code      int
		out, errs string
	}{
		{"wait for the neighbour", []string{file, "--run-dir", runDir, "--wait", "--timeout", "60s"}, 0,
			"every live neighbour holds physics.mfz", ""},
		{"again: already installed", []string{"--run-dir", runDir, file}, 0, "already installed", ""},
		{"untrusted signer", []string{"--run-dir", runDir, stranger}, 1, "", "untrusted"},
		{"no such file", []string{"--run-dir", runDir, filepath.Join(dir, "nope.mfz")}, 1, "", "no such file"},
		{"no daemon", []string{"--run-dir", filepath.Join(dir, "nowhere"), file}, 1, "", "is itcd running"},
		{"no file given", []string{"--run-dir", runDir}, 2, "", "usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			code := runPush(tc.args, &out, &errs, false)
			if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errs.String(), tc.errs) {
				t.Fatalf("exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", code, tc.code, out.String(), tc.out, errs.String(), tc.errs)
			}
		})
	}
}
