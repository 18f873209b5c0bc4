package main

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/t2tiles/itcd/sim/tilegrid"
)

// simEvents shows the grid's Tile Events as they come: one a line on
// stdout, or with the live picture its last few under the grid, or none
// with --json. add runs on the grid's goroutines.
type simEvents struct {
	start time.Time
	live  bool // keep the last lines for draw
	quiet bool // --json: the report lists them at the end
	w     io.Writer

	mu     sync.Mutex
	recent []string // the last lines, for the live picture
}

// maxRecent is how many events the live picture shows.
const maxRecent = 6

func (s *simEvents) add(e tilegrid.Event) {
	line := fmt.Sprintf("%7.2fs %s", e.At.Sub(s.start).Seconds(), e)
	switch {
	case s.live:
		s.mu.Lock()
		s.recent = append(s.recent, line)
		if len(s.recent) > maxRecent {
			s.recent = s.recent[len(s.recent)-maxRecent:]
		}
		s.mu.Unlock()
	case !s.quiet:
		s.mu.Lock()
		fmt.Fprintln(s.w, line)
		s.mu.Unlock()
	}
}

// lines returns the events the live picture shows.
func (s *simEvents) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.recent...)
}

// draw clears the terminal and draws the grid, the push's progress and
// the last events.
func (r *simRun) draw(g *tilegrid.Grid) {
	o := r.o
	var b bytes.Buffer
	b.WriteString("\x1b[H\x1b[2J")
	fmt.Fprintf(&b, "itcd sim %v  %s links  %.0fs  dir %s  (^C stops)\n", o.geo, rateName(o.profile.Rate), o.clock.Since(r.start).Seconds(), g.Dir())
	if pf := o.push; pf != nil {
		fmt.Fprintf(&b, "pushed %s (%d bytes) at %s: %s\n", pf.name, pf.size, pf.src.Name(), pf.summary(g.Snapshot()))
	}
	if len(o.mfzid) > 0 {
		fmt.Fprintf(&b, "physics identities (--mfzid, later wins): %s\n", o.mfzid.String())
	}
	b.WriteString("links: \\ / - live   # live, other physics (no MFM)   ~ link up, no itcd   x down\n\n")
	tilegrid.WriteText(&b, o.geo, g.Snapshot(), true)
	b.WriteString("\n")
	for _, l := range r.events.lines() {
		b.WriteString(l + "\n")
	}
	r.stdout.Write(b.Bytes())
}
