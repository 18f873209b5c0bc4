package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"time"

	"github.com/t2tiles/itcd/sim/tilegrid"
)

// simJSON is what --json prints at the end.
type simJSON struct {
	Grid  string `json:"grid"`
	Dir   string `json:"dir"`
	Procs bool   `json:"procs"`
	Seed  int64  `json:"seed"`
	Rate  int    `json:"rate"`
	// Slowdown is how many seconds of this machine's time one second
	// of the grid's lasted (--slowdown): every time here is the grid's.
	Slowdown float64 `json:"slowdown"`
	Duration float64 `json:"duration_s"`
	Source   *string `json:"source"`
	Size     *int64  `json:"size"`
	// Pushed is when the push was made, in seconds since the simulator
	// started (the clock of events' t_s): the events after it happened
	// during the push.
	Pushed  *float64  `json:"pushed_s,omitempty"`
	Tiles   []simTile `json:"tiles"`
	AllDone *float64  `json:"all_complete_s"`
	Lower   *float64  `json:"lower_bound_s"`
	Multi   *float64  `json:"multipath_bound_s"`
	// LossAdjusted is multipath_bound_s / (1 - loss) when every link
	// loses packets (--loss); absent without loss.
	LossAdjusted *float64   `json:"loss_adjusted_bound_s,omitempty"`
	Ratio        *float64   `json:"ratio"`
	Ecc          int        `json:"source_eccentricity,omitempty"`
	Lambda       int        `json:"lambda,omitempty"`
	Links        []simLink  `json:"links"`
	Events       []simEvent `json:"events,omitempty"`
}

type simTile struct {
	Name       string            `json:"name"`
	X          int               `json:"x"`
	Y          int               `json:"y"`
	RunDir     string            `json:"run_dir"`
	StateDir   string            `json:"state_dir"`
	Running    bool              `json:"running"`
	Tile       string            `json:"tile,omitempty"`
	Neighbours map[string]string `json:"neighbours"`
	Complete   *float64          `json:"complete_s"`
	// MFZID is the tile's physics identity; LinkStates each link's state
	// as its device has it: "mfm" (same identity: MFM flows), "up" (other
	// physics, or not yet checked), "down". Absent for process tiles.
	MFZID      string            `json:"mfzid"`
	LinkStates map[string]string `json:"link_states,omitempty"`
}

type simLink struct {
	From       string  `json:"from"`
	Dir        string  `json:"dir"`
	To         string  `json:"to"`
	Rate       int     `json:"rate"`
	Packets    uint64  `json:"packets"`
	Bytes      uint64  `json:"bytes"`
	Drops      uint64  `json:"drops"`
	Lost       uint64  `json:"lost"`
	CutDropped uint64  `json:"cut_dropped"`
	InDropped  uint64  `json:"in_dropped"`
	OutFull    uint64  `json:"out_full"`
	Duplicated uint64  `json:"duplicated"`
	Corrupted  uint64  `json:"corrupted"`
	Busy       float64 `json:"busy"`
	RateKept   float64 `json:"rate_kept,omitempty"`
	FromDaemon bool    `json:"from_daemon,omitempty"`
}

type simEvent struct {
	At    float64 `json:"t_s"`
	Tile  string  `json:"tile"`
	Event string  `json:"event"`
	Dir   string  `json:"dir"`
	Peer  string  `json:"peer"`
}

// simEnd is the grid as the run left it, read before the grid stops.
type simEnd struct {
	elapsed   time.Duration
	snap      []tilegrid.TileState
	links     []tilegrid.LinkReport
	events    []tilegrid.Event
	tiles     []*tilegrid.Tile
	dir       string
	completeS []float64 // seconds from the push to each tile holding the file; nil without one
}

// report ends the run: it reads the grid's end state, says how the push
// went (stderr) against the bounds (stdout), stops the grid, then writes
// the SVG and JSON reports asked for. It returns the exit status.
func (r *simRun) report(g *tilegrid.Grid) int {
	o := r.o
	end := simEnd{elapsed: r.o.clock.Since(r.start), snap: g.Snapshot()}
	end.links = g.LinkReports(end.elapsed)
	end.events, _ = g.Events(0)
	end.tiles, end.dir = g.Tiles(), g.Dir()
	status := 0
	if pf := o.push; pf != nil {
		end.completeS = pf.completeTimes(end.snap)
		if o.untilComplete && !pf.allComplete(end.snap) {
			fmt.Fprintf(r.stderr, "itcd sim: not every tile holds %s after %v: %s\n", pf.name, o.timeout, pf.summary(end.snap))
			status = 1
		} else if !o.asJSON {
			fmt.Fprintf(r.stderr, "itcd sim: %s\n", pf.summary(end.snap))
		}
		if !o.asJSON {
			var j simJSON
			pf.fillJSON(&j, o.geo, o.profile, end.completeS)
			fmt.Fprintln(r.stdout, boundsSummary(&j))
		}
	}
	if err := g.Close(); err != nil {
		fmt.Fprintf(r.stderr, "itcd sim: stopping the grid: %v\n", err)
		status = 1
	}
	if o.report != "" {
		var b bytes.Buffer
		tilegrid.WriteSVG(&b, tilegrid.SVGReport{
			Geometry: o.geo,
			Title:    fmt.Sprintf("itcd sim %v, %s links, %.0f s", o.geo, rateName(o.profile.Rate), end.elapsed.Seconds()),
			Tiles:    end.snap,
			Complete: end.completeS,
			Links:    end.links,
		})
		if err := os.WriteFile(o.report, b.Bytes(), 0o644); err != nil {
			fmt.Fprintf(r.stderr, "itcd sim: report: %v\n", err)
			status = 1
		}
	}
	if o.asJSON {
		enc := json.NewEncoder(r.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r.reportJSON(&end)); err != nil {
			return 1
		}
	}
	return status
}

// reportJSON is the --json report of a run that ended as end.
func (r *simRun) reportJSON(end *simEnd) simJSON {
	o, geo := r.o, r.o.geo
	out := simJSON{Grid: geo.String(), Dir: end.dir, Procs: o.procs, Seed: o.seed, Rate: o.profile.Rate, Slowdown: o.clock.Slowdown(), Duration: end.elapsed.Seconds()}
	for i, s := range end.snap {
		t := simTile{Name: s.Name, X: s.X, Y: s.Y, RunDir: end.tiles[i].RunDir, StateDir: end.tiles[i].StateDir,
			Running: s.Running, Neighbours: map[string]string{}, MFZID: s.MFZID}
		if s.Status != nil {
			t.Tile = s.Status.Tile.String()
		}
		if s.Device != nil {
			t.LinkStates = map[string]string{}
		}
		for _, l := range geo.Links(s.Coord) {
			if s.Device != nil {
				t.LinkStates[l.Dir.String()] = s.Device[l.Dir].String()
			}
			st, _ := s.Neighbour(geo, l.Dir)
			if s.Status == nil {
				t.Neighbours[l.Dir.String()] = "unknown"
			} else {
				t.Neighbours[l.Dir.String()] = st.String()
			}
		}
		if end.completeS != nil && end.completeS[i] >= 0 {
			c := round3(end.completeS[i])
			t.Complete = &c
		}
		out.Tiles = append(out.Tiles, t)
	}
	if o.push != nil {
		o.push.fillJSON(&out, geo, o.profile, end.completeS)
		if at := o.push.pushedAt; !at.IsZero() {
			v := round3(at.Sub(r.start).Seconds())
			out.Pushed = &v
		}
	}
	for _, l := range end.links {
		out.Links = append(out.Links, simLink{
			From: l.From.Name(), Dir: l.Dir.String(), To: l.To.Name(), Rate: l.Profile.Rate,
			Packets: l.Packets, Bytes: l.Bytes, Drops: l.Drops, Lost: l.Lost, CutDropped: l.CutDropped,
			InDropped: l.InDropped, OutFull: l.OutFull, Duplicated: l.Duplicated, Corrupted: l.Corrupted,
			Busy: math.Round(l.Busy*1e4) / 1e4, FromDaemon: l.FromDaemon,
			RateKept: math.Round(l.RateKept*1e4) / 1e4,
		})
	}
	evs := end.events
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
	for _, e := range evs {
		n, _ := geo.Neighbour(e.Tile, e.Dir)
		out.Events = append(out.Events, simEvent{At: round3(e.At.Sub(r.start).Seconds()), Tile: e.Tile.Name(), Event: e.Kind.String(), Dir: e.Dir.String(), Peer: n.Name()})
	}
	return out
}
