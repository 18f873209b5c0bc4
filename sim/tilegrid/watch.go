package tilegrid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/routes"
)

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
	// MFZID is the tile's physics identity (Config.MFZID).
	MFZID string
	// Device is the state of each link as the tile's UDP device has it:
	// LinkMFM where the neighbour has the same physics identity, LinkUp
	// where it differs. Nil where it cannot be read (stopped, or a
	// process tile).
	Device *dev.Status
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
		s := TileState{Coord: t.Coord, Name: t.Name, RunDir: t.RunDir, StateDir: t.StateDir, MFZID: t.MFZID}
		if r := t.running(); r != nil {
			s.Running = true
			s.Status = r.lastStatus()
			if ls, ok := r.linkStates(); ok {
				s.Device = &ls
			}
		}
		if s.Status != nil && g.cfg.Progress != nil {
			s.Progress = g.cfg.Progress(t.Coord, s.Status)
		}
		out[i] = s
	}
	return out
}

// ProgressOf is what Config.Progress makes of the status of the tile at
// c, nil if the grid has no hook, no such tile, or the tile is stopped.
// It asks one tile where Snapshot asks all: a daemon's status costs some
// microseconds, and the simulator asks every 250 ms while a file spreads.
func (g *Grid) ProgressOf(c Coord) *Progress {
	t := g.Tile(c)
	if t == nil || g.cfg.Progress == nil {
		return nil
	}
	r := t.running()
	if r == nil {
		return nil
	}
	var st *control.Status
	if g.cfg.ProgressSection != "" {
		st = r.sectionStatus(g.cfg.ProgressSection)
	} else {
		st = r.lastStatus()
	}
	if st == nil {
		return nil
	}
	return g.cfg.Progress(c, st)
}

// WaitFor polls cond every 20ms until it holds, and fails if it does not
// within timeout or the grid is closed. what names the condition in the
// error.
func (g *Grid) WaitFor(timeout time.Duration, what string, cond func() bool) error {
	return g.waitEvery(context.Background(), timeout, 20*time.Millisecond, what, cond)
}

// waitEvery is WaitFor polling every every; it gives up early when ctx
// ends (a user's ^C), with an error wrapping ctx.Err().
func (g *Grid) waitEvery(ctx context.Context, timeout, every time.Duration, what string, cond func() bool) error {
	deadline := g.clk.Now().Add(timeout) // the grid's time: a slowed grid comes up slower
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if cond() {
			return nil
		}
		if g.clk.Now().After(deadline) {
			return fmt.Errorf("tilegrid: %s: not within %v", what, timeout)
		}
		select {
		case <-g.ctx.Done():
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("tilegrid: %s: %w", what, ctx.Err())
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
	return g.WaitAllLiveContext(context.Background(), timeout)
}

// WaitAllLiveContext is WaitAllLive, given up when ctx ends.
func (g *Grid) WaitAllLiveContext(ctx context.Context, timeout time.Duration) error {
	why := ""
	err := g.waitEvery(ctx, timeout, 20*time.Millisecond, "every neighbour live", func() bool {
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

// RoutesSettled reports whether every running tile's routing service
// has a route to every other running tile, and returns the LSAs the grid
// has sent so far: a grid whose total stays the same a while has stopped
// flooding.
func (g *Grid) RoutesSettled() (ok bool, lsasOut uint64, why string) {
	snap := g.Snapshot()
	running := 0
	for _, s := range snap {
		if s.Running {
			running++
		}
	}
	ok = true
	for _, s := range snap {
		if !s.Running {
			continue
		}
		var rs routes.Status
		if s.Status == nil || decodeSection(s.Status.Sections["route"], &rs) != nil {
			return false, 0, s.Name + " has no routing status yet"
		}
		lsasOut += rs.Counts.LSAsOut
		if rs.Reachable < running-1 && ok {
			ok, why = false, fmt.Sprintf("%s reaches %d of the %d other tiles", s.Name, rs.Reachable, running-1)
		}
	}
	return ok, lsasOut, why
}

// WaitRoutesSettled waits until every tile reaches every tile and no tile
// has sent an LSA for quiet: the flood of a grid's start is over. A push
// measured before it would compete with it for the links and, on a
// machine simulating hundreds of tiles, for the CPU.
// It looks every 250 ms: reading 400 tiles' status costs CPU the flood
// needs.
func (g *Grid) WaitRoutesSettled(timeout, quiet time.Duration) error {
	return g.WaitRoutesSettledContext(context.Background(), timeout, quiet)
}

// WaitRoutesSettledContext is WaitRoutesSettled, given up when ctx ends.
func (g *Grid) WaitRoutesSettledContext(ctx context.Context, timeout, quiet time.Duration) error {
	var last uint64
	var since time.Time
	why := ""
	err := g.waitEvery(ctx, timeout, 250*time.Millisecond, "routes settled", func() bool {
		ok, out, w := g.RoutesSettled()
		why = w
		if !ok || out != last || since.IsZero() {
			last, since = out, g.clk.Now()
			if ok {
				why = "LSAs still flooding"
			}
			return false
		}
		return g.clk.Since(since) >= quiet
	})
	if err != nil && why != "" {
		return fmt.Errorf("%w (%s)", err, why)
	}
	return err
}

// decodeSection reads a routing status section, as the service made it
// or as control decoded it from JSON.
func decodeSection(sec any, v *routes.Status) error {
	switch s := sec.(type) {
	case nil:
		return errors.New("no section")
	case routes.Status: // an in-process tile's, as the service made it
		*v = s
		return nil
	}
	b, err := json.Marshal(sec)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
