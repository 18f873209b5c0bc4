package tilegrid

import (
	"fmt"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
)

// Status returns the tile's daemon status: straight from the daemon for an
// in-process tile, over its control socket for a process.
func (t *Tile) Status() (control.Status, error) {
	t.mu.Lock()
	r := t.run
	t.mu.Unlock()
	if r == nil || isDone(r.done) {
		return control.Status{}, fmt.Errorf("%w: %s", ErrStopped, t.Name)
	}
	if r.tile != nil {
		return r.tile.Status(), nil
	}
	return procStatus(t.RunDir)
}

// Status returns the status of the tile at c.
func (g *Grid) Status(c Coord) (control.Status, error) {
	t, err := g.tile(c)
	if err != nil {
		return control.Status{}, err
	}
	return t.Status()
}

// Start starts the stopped tile at c again (see Tile.Start).
func (g *Grid) Start(c Coord) error {
	t, err := g.tile(c)
	if err != nil {
		return err
	}
	return t.Start()
}

// Stop stops the tile at c (see Tile.Stop).
func (g *Grid) Stop(c Coord) error {
	t, err := g.tile(c)
	if err != nil {
		return err
	}
	return t.Stop()
}

// NeighbourState is what the tile at c knows of its neighbour on d.
func (g *Grid) NeighbourState(c Coord, d packet.Dir) (control.NeighbourState, error) {
	st, err := g.Status(c)
	if err != nil {
		return control.Absent, err
	}
	for _, l := range st.Links {
		if l.Dir == d {
			return l.State, nil
		}
	}
	return control.Absent, fmt.Errorf("%w: %v of %v", ErrNoLink, d, c)
}

func (g *Grid) link(c Coord, d packet.Dir) (*Tile, *Tile, error) {
	t, err := g.tile(c)
	if err != nil {
		return nil, nil, err
	}
	n, ok := g.cfg.Neighbour(c, d)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %v has no neighbour on %v", ErrNoLink, c, d)
	}
	return t, g.Tile(n), nil
}

// SetProfile sets one direction of a link: the outbound side of the tile
// at c on d, which is what its neighbour there receives. It takes effect at
// once and is kept across restarts of the tile.
func (g *Grid) SetProfile(c Coord, d packet.Dir, p dev.LinkProfile) error {
	t, _, err := g.link(c, d)
	if err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	return t.setProfile(d, p)
}

// SetLink sets both directions of the link of the tile at c on d.
func (g *Grid) SetLink(c Coord, d packet.Dir, p dev.LinkProfile) error {
	t, n, err := g.link(c, d)
	if err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if err := t.setProfile(d, p); err != nil {
		return err
	}
	return n.setProfile(d.Opposite(), p)
}

// Profile returns the profile of the outbound side of the tile at c on d.
func (g *Grid) Profile(c Coord, d packet.Dir) (dev.LinkProfile, error) {
	t, _, err := g.link(c, d)
	if err != nil {
		return dev.LinkProfile{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.profiles[d], nil
}

// Cut cuts the link of the tile at c on d at both ends, keeping the rest
// of both profiles: both tiles see the link go down.
func (g *Grid) Cut(c Coord, d packet.Dir) error { return g.setCut(c, d, true) }

// Restore undoes Cut.
func (g *Grid) Restore(c Coord, d packet.Dir) error { return g.setCut(c, d, false) }

func (g *Grid) setCut(c Coord, d packet.Dir, cut bool) error {
	t, n, err := g.link(c, d)
	if err != nil {
		return err
	}
	for _, e := range []struct {
		t *Tile
		d packet.Dir
	}{{t, d}, {n, d.Opposite()}} {
		e.t.mu.Lock()
		p := e.t.profiles[e.d]
		e.t.mu.Unlock()
		p.Cut = cut
		if err := e.t.setProfile(e.d, p); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tile) setProfile(d packet.Dir, p dev.LinkProfile) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.profiles[d] = p
	r := t.run
	if r == nil || isDone(r.done) {
		return nil // applied when it starts
	}
	if r.tile != nil {
		return r.tile.UDP.SetProfile(d, p)
	}
	if err := callLink(t.RunDir, d, &p); err != nil {
		return fmt.Errorf("tilegrid: %s: %w", t.Name, err)
	}
	return nil
}

// Pid returns the process id of a running process tile, 0 otherwise.
func (t *Tile) Pid() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.run == nil || t.run.proc == nil || isDone(t.run.done) {
		return 0
	}
	return t.run.proc.cmd.Process.Pid
}

// DeviceStats returns the UDP device counters of a running in-process tile
// (they start from zero at each start).
func (t *Tile) DeviceStats() (dev.UDPStats, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.run == nil || t.run.tile == nil {
		if t.run != nil {
			return dev.UDPStats{}, fmt.Errorf("tilegrid: %s is a process: its device counters are not on the control socket", t.Name)
		}
		return dev.UDPStats{}, fmt.Errorf("%w: %s", ErrStopped, t.Name)
	}
	return t.run.tile.UDP.Stats(), nil
}

// devStatsLocked returns the link counters of the current run: the
// device's for an in-process tile; for a process, the daemon's counts of
// packets written to and read from the device, as last polled.
func (t *Tile) devStatsLocked() [8]dev.LinkStats {
	var out [8]dev.LinkStats
	r := t.run
	switch {
	case r == nil:
	case r.tile != nil:
		out = r.tile.UDP.Stats().Links
	case r.proc != nil:
		r.proc.mu.Lock()
		st := r.proc.last
		r.proc.mu.Unlock()
		if st == nil {
			break
		}
		for _, l := range st.Links {
			if !l.Dir.IsLink() {
				continue
			}
			s := &out[l.Dir]
			for _, c := range l.Out {
				s.SentPackets += c.Packets
				s.SentBytes += c.Bytes
			}
			for _, c := range l.In {
				s.RecvPackets += c.Packets
				s.RecvBytes += c.Bytes
			}
		}
	}
	return out
}

// linkStats returns the tile's link counters over all its runs.
func (t *Tile) linkStats() [8]dev.LinkStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.devStatsLocked()
	for d := range cur {
		cur[d] = cur[d].Add(t.base[d])
	}
	return cur
}

// LinkReport is what happened on one direction of a link since the grid
// was built, over every run of both tiles.
type LinkReport struct {
	Link
	Profile dev.LinkProfile // the current profile of From's outbound side
	// Packets and Bytes left From on this link (duplicates included, the
	// link's own keepalives not).
	Packets, Bytes uint64
	// At From: dropped by the Loss impairment, sent twice, corrupted,
	// dropped because the link was cut, writes refused (queue full).
	Lost, Duplicated, Corrupted, CutDropped, OutFull uint64
	// InDropped arrived at To and were dropped: its inbound queue was full.
	InDropped uint64
	// Drops is Lost + CutDropped + InDropped.
	Drops uint64
	// Busy is Bytes over what the link could carry at its current rate
	// since the grid was built (0 for an unlimited link).
	Busy float64
	// FromDaemon is set for process tiles: the counters are the daemon's
	// packets written to and read from the device, since the device's own
	// are not on the control socket, and the impairment and drop counters
	// are unknown (0).
	FromDaemon bool
}

// LinkReports reports every direction of every link, in the order of
// Geometry.AllLinks.
func (g *Grid) LinkReports(elapsed time.Duration) []LinkReport {
	stats := make([][8]dev.LinkStats, len(g.tiles))
	for i, t := range g.tiles {
		stats[i] = t.linkStats()
	}
	var out []LinkReport
	for _, l := range g.cfg.AllLinks() {
		from := g.Tile(l.From)
		s := stats[g.cfg.Index(l.From)][l.Dir]
		in := stats[g.cfg.Index(l.To)][l.Dir.Opposite()]
		from.mu.Lock()
		p := from.profiles[l.Dir]
		from.mu.Unlock()
		r := LinkReport{
			Link: l, Profile: p,
			Packets: s.SentPackets, Bytes: s.SentBytes,
			Lost: s.Lost, Duplicated: s.Duplicated, Corrupted: s.Corrupted, CutDropped: s.CutDropped, OutFull: s.OutFull,
			InDropped:  in.InDropped,
			FromDaemon: g.cfg.Procs,
		}
		r.Drops = r.Lost + r.CutDropped + r.InDropped
		if p.Rate > 0 && elapsed > 0 {
			r.Busy = min(1, float64(r.Bytes)/(float64(p.Rate)*elapsed.Seconds()))
		}
		out = append(out, r)
	}
	return out
}

// TileState is one tile in a Snapshot.
type TileState struct {
	Coord
	Name             string
	RunDir, StateDir string
	Running          bool
	// Status is the daemon's status, nil when the tile is stopped or did
	// not answer. For process tiles it is the last one polled (at most
	// 250ms old).
	Status *control.Status
	// Progress is what Config.Progress made of Status, or nil.
	Progress *Progress
}

// Neighbour returns the state of the tile's neighbour on d as the tile
// sees it, and whether the grid has a neighbour there.
func (s *TileState) Neighbour(geo Geometry, d packet.Dir) (control.NeighbourState, bool) {
	if _, ok := geo.Neighbour(s.Coord, d); !ok {
		return control.Absent, false
	}
	if s.Status != nil {
		for _, l := range s.Status.Links {
			if l.Dir == d {
				return l.State, true
			}
		}
	}
	return control.Absent, true
}

// Snapshot reads every tile's state, in row-major order.
func (g *Grid) Snapshot() []TileState {
	out := make([]TileState, len(g.tiles))
	for i, t := range g.tiles {
		s := TileState{Coord: t.Coord, Name: t.Name, RunDir: t.RunDir, StateDir: t.StateDir}
		t.mu.Lock()
		r := t.run
		t.mu.Unlock()
		if r != nil && !isDone(r.done) {
			s.Running = true
			switch {
			case r.tile != nil:
				st := r.tile.Status()
				s.Status = &st
			case r.proc != nil:
				r.proc.mu.Lock()
				s.Status = r.proc.last
				r.proc.mu.Unlock()
			}
		}
		if s.Status != nil && g.cfg.Progress != nil {
			s.Progress = g.cfg.Progress(t.Coord, s.Status)
		}
		out[i] = s
	}
	return out
}

// WaitFor polls cond every 20ms until it holds, and fails if it does not
// within timeout or the grid is closed. what names the condition in the
// error.
func (g *Grid) WaitFor(timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tilegrid: %s: not within %v", what, timeout)
		}
		select {
		case <-g.ctx.Done():
			return ErrClosed
		case <-tick.C:
		}
	}
}

// AllLive reports whether every running tile sees each running neighbour
// Live; if not, it says which link is not.
func (g *Grid) AllLive() (bool, string) {
	snap := g.Snapshot()
	for _, s := range snap {
		if !s.Running {
			continue
		}
		if s.Status == nil {
			return false, s.Name + " has no status yet"
		}
		for _, l := range g.cfg.Links(s.Coord) {
			if !snap[g.cfg.Index(l.To)].Running {
				continue
			}
			if st, _ := s.Neighbour(g.cfg.Geometry, l.Dir); st != control.Live {
				return false, fmt.Sprintf("%v sees %v on %v as %v", s.Name, l.To, l.Dir, st)
			}
		}
	}
	return true, ""
}

// WaitAllLive waits until AllLive holds.
func (g *Grid) WaitAllLive(timeout time.Duration) error {
	why := ""
	err := g.WaitFor(timeout, "every neighbour live", func() bool {
		var ok bool
		ok, why = g.AllLive()
		return ok
	})
	if err != nil && why != "" {
		return fmt.Errorf("%w (%s)", err, why)
	}
	return err
}

// WaitLink waits until the tile at c sees its neighbour on d in state want.
func (g *Grid) WaitLink(timeout time.Duration, c Coord, d packet.Dir, want control.NeighbourState) error {
	return g.WaitFor(timeout, fmt.Sprintf("%v sees %v as %v", c, d, want), func() bool {
		st, err := g.NeighbourState(c, d)
		return err == nil && st == want
	})
}

// WaitEvent waits for an event logged after mark that match accepts.
func (g *Grid) WaitEvent(timeout time.Duration, mark int, what string, match func(Event) bool) (Event, error) {
	var found Event
	err := g.WaitFor(timeout, what, func() bool {
		evs, next := g.Events(mark)
		mark = next
		for _, e := range evs {
			if match(e) {
				found = e
				return true
			}
		}
		return false
	})
	return found, err
}
