package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/counter"
)

// startCounterDaemon runs an in-process daemon with the counter service on
// device d and returns its config.
func startCounterDaemon(t *testing.T, d dev.Device, value string) daemon.Config {
	t.Helper()
	dir := t.TempDir()
	cfg := daemon.DefaultConfig()
	cfg.StateDir, cfg.RunDir = filepath.Join(dir, "state"), filepath.Join(dir, "run")
	cfg.HelloInterval, cfg.DeadAfter = conf.Duration(50*time.Millisecond), conf.Duration(1500*time.Millisecond)
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if value != "" {
		if err := os.WriteFile(filepath.Join(cfg.StateDir, "counter"), []byte(value), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := counter.New(counter.DefaultConfig(), counter.Options{StateDir: cfg.StateDir})
	if err != nil {
		t.Fatal(err)
	}
	runTestDaemon(t, cfg, daemon.Options{Device: d, Services: []p2p.Service{svc}})
	return cfg
}

// runTestDaemon runs a daemon (quiet unless opt names a logger) until the
// test ends and returns once it is ready.
func runTestDaemon(t *testing.T, cfg daemon.Config, opt daemon.Options) *daemon.Daemon {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dm, err := daemon.New(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dm.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("daemon did not stop within 10s")
		}
	})
	select {
	case <-dm.Ready():
	case err := <-done:
		t.Fatalf("daemon stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not ready within 10s")
	}
	return dm
}

func TestCounterCommand(t *testing.T) {
	da, db := dev.Pipe(packet.ET, 64)
	ca := startCounterDaemon(t, da, "") // A has no counter file
	startCounterDaemon(t, db, "42\n")

	run := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := runCounter(args, &out, &errb)
		return out.String(), errb.String(), code
	}

	// Wait until A has heard B's value, through the command itself.
	deadline := time.Now().Add(10 * time.Second)
	var st counter.Status
	for {
		out, errs, code := run("--json", "--run-dir", ca.RunDir)
		if code != 0 {
			t.Fatalf("itcd counter --json: exit %d: %s", code, errs)
		}
		st = counter.Status{}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("--json output is not a Status: %v\n%s", err, out)
		}
		if len(st.Neighbours) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A never heard B's value:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := st.Neighbours[0]; n.Dir != packet.ET || n.Value != 42 || st.Value != nil || st.Problem != "file missing" {
		t.Fatalf("status %+v", st)
	}

	out, _, code := run("--run-dir", ca.RunDir)
	for _, want := range []string{
		"local value none  (" + filepath.Join(ca.StateDir, "counter") + ")",
		"file: file missing; no value yet",
		"DIR  TILE",
		"ET   " + st.Neighbours[0].Tile.String() + "  42",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("itcd counter: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}

	if _, errs, code := run("--run-dir", filepath.Join(t.TempDir(), "nothing")); code != 1 || !strings.Contains(errs, "no itcd control socket") {
		t.Errorf("no daemon: exit %d, %q", code, errs)
	}
	if _, _, code := run("extra"); code != 2 {
		t.Errorf("positional argument: exit %d, want 2", code)
	}
}

func TestWriteCounter(t *testing.T) {
	v := int64(-5)
	var b bytes.Buffer
	writeCounter(&b, counter.Status{Path: "/s/counter", Value: &v, Problem: `"x" is not a whole number`, Neighbours: []counter.NeighbourValue{}})
	want := "local value -5  (/s/counter)\nfile: \"x\" is not a whole number; keeping the last value\n\nno neighbour has advertised a value\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
