package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz/dist"
)

func init() {
	register("push", "install a signed MFZ file on this tile and spread it to the grid", func(args []string, stdout, stderr io.Writer) int {
		return runPush(args, stdout, stderr, isTerminal(stdout))
	})
}

// runPush is the push subcommand; tty says whether stdout is a terminal,
// where the line of neighbours still waited for is redrawn in place.

func runPush(args []string, stdout, stderr io.Writer, tty bool) int {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	usageFor(fs, "push FILE.mfz [--run-dir DIR] [--wait] [--timeout D]",
		"The local daemon verifies FILE against its trusted keys, installs it and\n"+
			"starts spreading it to every tile. Exits 0 once it is installed here;\n"+
			"with --wait, once every live neighbour reports the whole file.")
	runDir := fs.String("run-dir", control.DefaultRunDir, "the daemon's run `dir`")
	wait := fs.Bool("wait", false, "wait until every live neighbour holds the file")
	timeout := fs.Duration("timeout", 0, "with --wait, give up after this long (0: never)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2
	}
	path, err := filepath.Abs(pos[0])
	if err == nil {
		_, err = os.Stat(path)
	}
	if err != nil {
		fmt.Fprintf(stderr, "itcd push: %v\n", err)
		return 1
	}
	c, err := control.Dial(*runDir)
	if err != nil {
		fmt.Fprintf(stderr, "itcd push: %v\n", err)
		return 1
	}
	defer c.Close()
	var res dist.PushResult
	if err := c.Call("push", dist.PushArgs{Path: path}, &res); err != nil {
		fmt.Fprintf(stderr, "itcd push: %s refused: %v\n", pos[0], err)
		return 1
	}
	what := fmt.Sprintf("%s version %s", res.Name, time.Unix(0, res.Version).UTC().Format(time.RFC3339Nano))
	switch {
	case res.Deleted:
		fmt.Fprintf(stdout, "installed locally: tombstone for %s; spreading\n", what)
	case res.Already:
		fmt.Fprintf(stdout, "already installed: %s (%d bytes, %d blocks); spreading\n", what, res.Size, res.Blocks)
	default:
		fmt.Fprintf(stdout, "installed locally: %s (%d bytes, %d blocks); spreading\n", what, res.Size, res.Blocks)
	}
	if !*wait {
		return 0
	}
	var deadline time.Time
	if *timeout > 0 {
		deadline = time.Now().Add(*timeout)
	}
	reported := map[packet.Dir]bool{}
	for {
		var st control.Status
		if err := c.Call("status", nil, &st); err != nil {
			fmt.Fprintf(stderr, "itcd push: %v\n", err)
			return 1
		}
		done, pending := neighbourProgress(&st, res, reported, stdout)
		if tty {
			fmt.Fprintf(stdout, "\r\033[K%s", pending)
		}
		if done {
			if tty {
				fmt.Fprint(stdout, "\r\033[K")
			}
			fmt.Fprintf(stdout, "every live neighbour holds %s\n", res.Name)
			return 0
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			if tty {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stderr, "itcd push: timed out after %v waiting for %s\n", *timeout, pending)
			return 1
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// neighbourProgress prints each live neighbour that newly holds the pushed
// file and reports whether all do, with a line about the others.
func neighbourProgress(st *control.Status, res dist.PushResult, reported map[packet.Dir]bool, w io.Writer) (bool, string) {
	ds, _ := dist.StatusFrom(st.Sections)
	held := map[packet.Dir]dist.NeighbourFile{}
	for _, n := range ds.Neighbours {
		for _, f := range n.Files {
			// A newer version replaces the pushed one everywhere: a
			// neighbour that holds it holds what the push was for.
			if f.Name == res.Name && f.Version >= res.Version {
				held[n.Dir] = f
			}
		}
	}
	var waiting []string
	for _, l := range st.Links {
		if l.State != control.Live {
			continue
		}
		f, ok := held[l.Dir]
		if ok && (f.Complete || f.Tombstone) {
			if !reported[l.Dir] {
				reported[l.Dir] = true
				fmt.Fprintf(w, "%v (%s) holds %s\n", l.Dir, tileName(l), res.Name)
			}
			continue
		}
		if ok && f.Total > 0 {
			waiting = append(waiting, fmt.Sprintf("%v %d/%d blocks", l.Dir, f.Held, f.Total))
		} else {
			waiting = append(waiting, fmt.Sprintf("%v -", l.Dir))
		}
	}
	sort.Strings(waiting)
	return len(waiting) == 0, "waiting for " + strings.Join(waiting, ", ")
}

func tileName(l control.LinkStatus) string {
	if l.Tile == nil {
		return "?"
	}
	return l.Tile.String()
}
