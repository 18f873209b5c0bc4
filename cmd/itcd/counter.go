package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/services/counter"
)

func init() {
	register("counter", "show this tile's counter value and its neighbours'", runCounter)
}

// runCounter is the counter subcommand: it asks the running daemon's
// counter service for its state and prints it.
func runCounter(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("counter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	usageFor(fs, "counter [--json] [--run-dir DIR]",
		"Shows this tile's counter value and the values its live neighbours advertise,\n"+
			"from the daemon on DIR/control.sock.")
	asJSON := fs.Bool("json", false, "print the service's state as JSON")
	runDir := fs.String("run-dir", control.DefaultRunDir, "the daemon's run `dir`")
	if pos, err := parseInterleaved(fs, args); err != nil || len(pos) > 0 {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err == nil {
			fs.Usage()
		}
		return 2
	}

	raw, code, done := serviceCall(*runDir, "counter", nil, *asJSON, stdout, stderr)
	if done {
		return code
	}
	st, ok := decodeAnswer[counter.Status](raw, "counter", stderr)
	if !ok {
		return 1
	}
	writeCounter(stdout, st)
	return 0
}

// writeCounter prints the local value, then one line per neighbour.
func writeCounter(w io.Writer, st counter.Status) {
	value := "none"
	if st.Value != nil {
		value = fmt.Sprint(*st.Value)
	}
	fmt.Fprintf(w, "local value %s  (%s)\n", value, st.Path)
	if st.Problem != "" {
		keeping := "no value yet"
		if st.Value != nil {
			keeping = "keeping the last value"
		}
		fmt.Fprintf(w, "file: %s; %s\n", st.Problem, keeping)
	}
	fmt.Fprintln(w)
	if len(st.Neighbours) == 0 {
		fmt.Fprintln(w, "no neighbour has advertised a value")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DIR\tTILE\tVALUE\tHEARD")
	for _, n := range st.Neighbours {
		fmt.Fprintf(tw, "%v\t%v\t%d\t%.1fs ago\n", n.Dir, n.Tile, n.Value, n.LastHeard)
	}
	tw.Flush()
}
