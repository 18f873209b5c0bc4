package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/services/routes"
)

func init() {
	register("route", "show the routes to every tile, or the disjoint paths to one", runRoute)
}

// runRoute is the route subcommand: the routing service's table, or with a
// tile named, the link-disjoint paths to it.
func runRoute(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("route", flag.ContinueOnError)
	fs.SetOutput(stderr)
	usageFor(fs, "route [--json] [--paths K] [--run-dir DIR] [TILE]",
		"Without TILE, lists every tile this one can reach: the link a shortest path\n"+
			"leaves by, its hops, the path, and the other links that reach it without a\n"+
			"loop. With TILE (an identity, a unique prefix of 4 or more hex digits, or a\n"+
			"route of directions such as ET,ET,SE), lists up to K paths to it that share\n"+
			"no link, shortest first.")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	paths := fs.Int("paths", routes.MaxPaths, "the most disjoint `paths` to look for (1..3)")
	runDir := fs.String("run-dir", control.DefaultRunDir, "the daemon's run `dir`")
	pos, err := parseInterleaved(fs, args)
	if err != nil || len(pos) > 1 || *paths < 1 || *paths > routes.MaxPaths {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err == nil {
			fs.Usage()
		}
		return 2
	}
	req := routes.Request{Paths: *paths}
	if len(pos) == 1 {
		req.Tile = pos[0]
	}
	raw, code, done := serviceCall(*runDir, "route", req, *asJSON, stdout, stderr)
	if done {
		return code
	}
	if req.Tile != "" {
		d, ok := decodeAnswer[routes.Dest](raw, "route", stderr)
		if !ok {
			return 1
		}
		writeDest(stdout, d)
		return 0
	}
	t, ok := decodeAnswer[routes.Table](raw, "route", stderr)
	if !ok {
		return 1
	}
	writeRoutes(stdout, t)
	return 0
}

// writeRouteSummary prints the service's state in one line and its
// counters in another.
func writeRouteSummary(w io.Writer, s routes.Status) {
	fmt.Fprintf(w, "tile %v (LSA %d): %d tiles known, %d reachable\n", s.Self, s.Seq, s.Known, s.Reachable)
	c := s.Counts
	fmt.Fprintf(w, "LSAs in %d out %d, acks in %d out %d, retransmitted %d, computed %d; dropped: bad %d, forged %d, rate-limited %d, table full %d; expired %d\n",
		c.LSAsIn, c.LSAsOut, c.AcksIn, c.AcksOut, c.Retransmits, c.Computed, c.Bad, c.Forged, c.RateLimited, c.TableFull, c.Expired)
	if c.OwnClashes > 1 {
		fmt.Fprintf(w, "%d LSAs of this tile it did not make: if more come, another tile has its key (a copied state dir?)\n", c.OwnClashes)
	}
}

// writeRoutes prints the summary, then one line per reachable tile.
func writeRoutes(w io.Writer, t routes.Table) {
	writeRouteSummary(w, t.Status)
	fmt.Fprintln(w)
	if len(t.Routes) == 0 {
		fmt.Fprintln(w, "no other tile reachable")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TILE\tNEXT\tHOPS\tPATH\tALTERNATIVES\t")
	for _, r := range t.Routes {
		alt := make([]string, len(r.Alternatives))
		for i, d := range r.Alternatives {
			alt[i] = d.String()
		}
		fmt.Fprintf(tw, "%v\t%v\t%d\t%s\t%s\t\n", r.Tile, r.Next, r.Hops, r.Path, strings.Join(alt, ","))
	}
	tw.Flush()
}

// writeDest prints one tile's disjoint paths.
func writeDest(w io.Writer, d routes.Dest) {
	if d.Hops == 0 {
		fmt.Fprintf(w, "tile %v is this tile\n", d.Tile)
		return
	}
	fmt.Fprintf(w, "tile %v: %d hops; %d paths that share no link:\n", d.Tile, d.Hops, len(d.Paths))
	for i, p := range d.Paths {
		fmt.Fprintf(w, "  %d. %s (%d hops)\n", i+1, p, strings.Count(p, ",")+1)
	}
}
