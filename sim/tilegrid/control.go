package tilegrid

import (
	"fmt"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
)

// What a test or the simulator does to a running grid: ask a tile, stop
// and start it, shape and cut its links.

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
