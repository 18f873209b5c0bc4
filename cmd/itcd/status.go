package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/services/counter"
	"github.com/t2tiles/itcd/services/mfz/dist"
	"github.com/t2tiles/itcd/services/routes"
)

func init() {
	register("status", "show neighbours, traffic, services and files of a running daemon", cmdStatus)
}

// statusTimeout bounds `itcd status`'s wait for the daemon: a status is
// answered at once, so a longer wait is a daemon in trouble, which the
// user should hear about rather than wait on.
const statusTimeout = 10 * time.Second

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	usageFor(fs, "status [--json] [--run-dir DIR]", "Asks the daemon on DIR/control.sock for its state.")
	asJSON := fs.Bool("json", false, "print JSON")
	runDir := fs.String("run-dir", control.DefaultRunDir, "the daemon's run `dir`")
	if _, err := parseInterleaved(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	c, err := control.Dial(*runDir)
	if err != nil {
		fmt.Fprintf(stderr, "itcd status: %v\n", err)
		return 1
	}
	defer c.Close()
	c.Timeout = statusTimeout
	var st control.Status
	if *asJSON {
		var raw json.RawMessage
		if err := c.Call("status", nil, &raw); err != nil {
			fmt.Fprintf(stderr, "itcd status: %v\n", err)
			return 1
		}
		out, _ := json.MarshalIndent(raw, "", "  ")
		fmt.Fprintln(stdout, string(out))
		return 0
	}
	if err := c.Call("status", nil, &st); err != nil {
		fmt.Fprintf(stderr, "itcd status: %v\n", err)
		return 1
	}
	// The services this build knows print as tables; WriteStatus prints
	// any other section as JSON.
	mfzSection, hasMFZ := dist.StatusFrom(st.Sections)
	delete(st.Sections, dist.SectionName)
	cnt, hasCounter := takeSection[counter.Status](&st, "counter")
	tubeSt, hasTubes := tubeSection(&st)
	routeSt, hasRoutes := takeSection[routes.Status](&st, "route")
	control.WriteStatus(stdout, st)
	if hasCounter {
		fmt.Fprintln(stdout, "\ncounter (service 2):")
		writeCounter(indent(stdout), cnt)
	}
	if hasMFZ {
		fmt.Fprintln(stdout, "\nsigned files (service 8):")
		writeMFZ(indent(stdout), mfzSection)
	}
	if hasTubes {
		fmt.Fprintln(stdout, "\ntubes (service 9):")
		writeTubes(indent(stdout), tubeSt)
	}
	if hasRoutes {
		fmt.Fprintln(stdout, "\nroutes (service 10):")
		writeRouteSummary(indent(stdout), routeSt)
	}
	return 0
}

// takeSection takes a service's status section out of st (so the
// generic printer does not print it too), decoded from the generic JSON
// values a Client reads into the service's own type.
func takeSection[T any](st *control.Status, name string) (T, bool) {
	var v T
	raw, ok := st.Sections[name]
	if !ok {
		return v, false
	}
	delete(st.Sections, name)
	b, err := json.Marshal(raw)
	return v, err == nil && json.Unmarshal(b, &v) == nil
}

// writeMFZ prints the store, the transfers and what each neighbour holds.
func writeMFZ(w io.Writer, s dist.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(s.Files) == 0 {
		fmt.Fprintln(tw, "store: empty")
	} else {
		fmt.Fprintln(tw, "NAME\tVERSION\tSIZE\tBLOCKS\t")
		for _, f := range s.Files {
			size := fmt.Sprint(f.Size)
			if f.Deleted {
				size = "deleted"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t\n", f.Name, versionTime(f.Version), size, f.Blocks)
		}
	}
	tw.Flush()
	for _, t := range s.Transfers {
		src := "no neighbour yet"
		if len(t.Sources) > 0 {
			var parts []string
			for _, x := range t.Sources {
				parts = append(parts, fmt.Sprintf("%v %d blocks", x.Dir, x.Blocks))
			}
			src = strings.Join(parts, ", ")
		}
		if t.State == "paused" {
			fmt.Fprintf(w, "paused %s %s: %d/%d blocks held; retry in %.0f s: %s\n", t.Name, versionTime(t.Version),
				t.BlocksHeld, t.BlocksTotal, t.RetryS, t.Reason)
			continue
		}
		fmt.Fprintf(w, "receiving %s %s: %d/%d blocks, %.1f KB/s, from %s\n", t.Name, versionTime(t.Version),
			t.BlocksHeld, t.BlocksTotal, t.BytesPerS/1024, src)
	}
	if s.Paused != "" {
		fmt.Fprintf(w, "new transfers paused (retry in %.0f s): %s\n", s.PausedRetryS, s.Paused)
	}
	for _, p := range s.StartsPaused {
		fmt.Fprintf(w, "cannot start %s %s (retry in %.0f s): %s\n", p.Name, versionTime(p.Version), p.RetryS, p.Reason)
	}
	for _, n := range s.Neighbours {
		var files []string
		for _, f := range n.Files {
			state := fmt.Sprintf("%d/%d", f.Held, f.Total)
			switch {
			case f.Tombstone:
				state = "deleted"
			case f.Complete:
				state = "whole"
			}
			files = append(files, f.Name+" "+state)
		}
		if len(files) == 0 {
			files = []string{"nothing"}
		}
		fmt.Fprintf(w, "%v holds %s\n", n.Dir, strings.Join(files, ", "))
	}
	c := s.Counters
	fmt.Fprintf(w, "blocks in %d, chunks out %d, lost %d, timeouts %d, bad blocks %d, crc errors %d, refused manifests %d\n",
		c.BlocksIn, c.ChunksOut, c.Lost, c.Timeouts, c.BadBlocks, c.CRCErrors, c.Refused)
}

func versionTime(v int64) string {
	return time.Unix(0, v).UTC().Format("2006-01-02T15:04:05Z")
}

// indent prefixes every line written through it with two spaces.
func indent(w io.Writer) io.Writer { return &indentWriter{w: w, start: true} }

type indentWriter struct {
	w     io.Writer
	start bool
}

func (iw *indentWriter) Write(b []byte) (int, error) {
	var out []byte
	for _, c := range b {
		if iw.start {
			out = append(out, ' ', ' ')
		}
		out = append(out, c)
		iw.start = c == '\n'
	}
	if _, err := iw.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// serviceCall asks the daemon on runDir's control socket for cmd with
// args and returns its answer, for the command of the same name. done
// means nothing is left to do but exit with code: an error was printed,
// or with asJSON the answer, indented.
func serviceCall(runDir, cmd string, args any, asJSON bool, stdout, stderr io.Writer) (raw json.RawMessage, code int, done bool) {
	c, err := control.Dial(runDir)
	if err != nil {
		fmt.Fprintf(stderr, "itcd %s: %v\n", cmd, err)
		return nil, 1, true
	}
	defer c.Close()
	if err := c.Call(cmd, args, &raw); err != nil {
		fmt.Fprintf(stderr, "itcd %s: %v\n", cmd, err)
		return nil, 1, true
	}
	if asJSON {
		var out bytes.Buffer
		if err := json.Indent(&out, raw, "", "  "); err != nil {
			fmt.Fprintf(stderr, "itcd %s: unexpected answer: %v\n", cmd, err)
			return nil, 1, true
		}
		fmt.Fprintln(stdout, out.String())
		return raw, 0, true
	}
	return raw, 0, false
}

// decodeAnswer decodes the answer serviceCall returned for cmd; false
// (printed) if it is not a T.
func decodeAnswer[T any](raw json.RawMessage, cmd string, stderr io.Writer) (T, bool) {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		fmt.Fprintf(stderr, "itcd %s: unexpected answer: %v\n", cmd, err)
		return v, false
	}
	return v, true
}
