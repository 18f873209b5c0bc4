package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// `itcd sim` in four steps, a file each: parse the flags into simOptions
// (simflags.go), build the grid's configuration (buildSim), run the grid
// with the push and the live picture (simrun.go, simlive.go), and report
// (simreport.go). The pushed file's bookkeeping is simpush.go's.

func init() {
	register("sim", "run a simulated grid of tiles over UDP on this machine", runSim)
}

// runSim is the sim subcommand; it returns the exit status.
func runSim(args []string, stdout, stderr io.Writer) int {
	o, code := parseSim(args, stderr)
	if o == nil {
		return code
	}
	r, cfg := buildSim(o, stdout, stderr)
	// Caught until the report is written: ^C ends the run, not the
	// simulator, which then stops the tiles in order.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	g, code := r.run(ctx, cfg)
	defer r.caps.stop() // a run that failed: its captures end with the grid
	if g == nil {
		return code
	}
	// Before the report stops the grid, so each file ends with the
	// daemon's final count of what the capture lost.
	capsOK := r.caps.stop()
	if code = r.report(g); code == 0 && !capsOK {
		code = 1
	}
	return code
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func rateName(rate int) string {
	if rate <= 0 {
		return "unlimited"
	}
	if rate%1024 == 0 {
		return fmt.Sprintf("%d KB/s", rate/1024)
	}
	return fmt.Sprintf("%d B/s", rate)
}

func dirName(d string) string {
	if d == "" {
		return "a temporary dir"
	}
	return d
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
