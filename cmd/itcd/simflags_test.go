package main

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/sim/tilegrid"
)

// parseSim turns flags into options; buildSim turns those into the grid's
// configuration.
func TestParseAndBuildSim(t *testing.T) {
	dir := t.TempDir()
	key, file := makeSignedFile(t, dir, "f.mfz", 1000)
	defSeed := dev.DefaultUDPConfig().Seed
	tests := []struct {
		args  []string
		check func(t *testing.T, o *simOptions, cfg tilegrid.Config)
	}{
		{nil, func(t *testing.T, o *simOptions, cfg tilegrid.Config) {
			if o.geo != (tilegrid.Geometry{W: 4, H: 4}) || o.profile.Rate != tilegrid.DefaultRate || o.seed != defSeed ||
				o.procs || o.push != nil || o.duration != 0 || o.timeout != 10*time.Minute || o.logLevel != "info" {
				t.Errorf("defaults: %+v", o)
			}
			if cfg.Geometry != o.geo || cfg.Profile != o.profile || cfg.Seed != o.seed || cfg.Progress != nil || cfg.OnEvent == nil {
				t.Errorf("config of the defaults: %+v", cfg)
			}
		}},
		{[]string{"--grid", "3x2", "--rate", "32KB/s", "--loss", "0.25", "--seed", "9", "--procs", "--duration", "2s",
			"--dir", dir, "--log-level", "debug", "--json", "--report", "r.svg"}, func(t *testing.T, o *simOptions, cfg tilegrid.Config) {
			if o.geo != (tilegrid.Geometry{W: 3, H: 2}) || o.profile.Rate != 32768 || o.profile.Loss != 0.25 || o.seed != 9 ||
				!o.procs || o.duration != 2*time.Second || o.dir != dir || !o.asJSON || o.report != "r.svg" {
				t.Errorf("options: %+v", o)
			}
			if !cfg.Procs || cfg.Dir != dir || cfg.LogLevel != "debug" || cfg.Profile.Loss != 0.25 || cfg.Seed != 9 {
				t.Errorf("config: %+v", cfg)
			}
		}},
		{[]string{"--grid", "2x2", "--push", file, "--trust", key, "--at", "1,1", "--until-complete", "--timeout", "1m"},
			func(t *testing.T, o *simOptions, cfg tilegrid.Config) {
				if o.push == nil || o.push.src != (tilegrid.Coord{X: 1, Y: 1}) || o.push.name != "f.mfz" || o.push.path != file ||
					!o.untilComplete || o.timeout != time.Minute || len(o.trust) != 1 || o.trust[0] != key {
					t.Errorf("push options: %+v %+v", o, o.push)
				}
				if cfg.Progress == nil || len(cfg.Trust) != 1 || filepath.Base(cfg.Trust[0]) != "signer.pub" {
					t.Errorf("push config: %+v", cfg)
				}
			}},
	}
	for _, tc := range tests {
		var errb bytes.Buffer
		o, code := parseSim(tc.args, &errb)
		if o == nil {
			t.Errorf("%q: exit %d: %s", tc.args, code, errb.String())
			continue
		}
		_, cfg := buildSim(o, io.Discard, io.Discard)
		tc.check(t, o, cfg)
	}
	// -h is not a fault.
	if o, code := parseSim([]string{"-h"}, io.Discard); o != nil || code != 0 {
		t.Errorf("-h: %v, exit %d", o, code)
	}
}
