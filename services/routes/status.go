package routes

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// Status is the service's section of `itcd status`.
type Status struct {
	Self      p2p.TileID `json:"self"`
	Seq       uint32     `json:"seq"`       // of this tile's latest LSA
	Known     int        `json:"known"`     // tiles the database names
	Reachable int        `json:"reachable"` // of those, reached by a route (this tile not counted)
	Links     int        `json:"links"`     // links of the grid both ends list
	Counts    Counts     `json:"counts"`
}

// Table is what `itcd route` shows: a route to every reachable tile.
type Table struct {
	Status
	Routes []RouteInfo `json:"routes"`
}

// RouteInfo is one destination of the table, printable.
type RouteInfo struct {
	Tile         p2p.TileID   `json:"tile"`
	Hops         int          `json:"hops"`
	Next         packet.Dir   `json:"next"`
	Path         string       `json:"path"` // the links of a shortest path, as ET,ET,SE
	Alternatives []packet.Dir `json:"alternatives"`
}

// Dest is what `itcd route TILE` shows: the disjoint paths to one tile.
type Dest struct {
	Tile  p2p.TileID `json:"tile"`
	Hops  int        `json:"hops"`
	Paths []string   `json:"paths"` // link-disjoint, shortest first
}

// Request is the control command's argument: empty for the table, or a
// tile and how many disjoint paths to look for (0: MaxPaths).
type Request struct {
	Tile  string `json:"tile,omitempty"`
	Paths int    `json:"paths,omitempty"`
}

// ErrNotStarted means the service has not yet built its first graph.
var ErrNotStarted = errors.New("the routing service has not started yet")

// Status implements p2p.StatusReporter.
func (s *Service) Status() any { return s.status() }

func (s *Service) status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Seq: s.seq, Counts: s.counts}
	if g := s.graph; g != nil {
		st.Self, st.Known, st.Links = g.Self(), g.Known(), g.Links()
		for _, h := range g.dist {
			if h > 0 {
				st.Reachable++
			}
		}
	}
	return st
}

// Commands implements p2p.ControlHandler.
func (s *Service) Commands() []string { return []string{"route"} }

// Control implements p2p.ControlHandler: "route" returns the Table, or
// with a tile named in the Request its Dest.
func (s *Service) Control(ctx context.Context, cmd string, args []byte) (any, error) {
	var req Request
	if len(args) > 0 {
		if err := json.Unmarshal(args, &req); err != nil {
			return nil, fmt.Errorf("route: bad request: %w", err)
		}
	}
	g := s.Graph()
	if g == nil {
		return nil, ErrNotStarted
	}
	if req.Tile == "" {
		t := Table{Status: s.status()}
		for _, r := range g.Routes() {
			t.Routes = append(t.Routes, RouteInfo{Tile: r.Tile, Hops: r.Hops, Next: r.Next, Path: FormatRoute(r.Path), Alternatives: r.Alternatives})
		}
		return t, nil
	}
	if req.Paths < 0 || req.Paths > MaxPaths {
		return nil, fmt.Errorf("route: %d paths: want 1..%d", req.Paths, MaxPaths)
	}
	tile, err := g.Resolve(req.Tile)
	if err != nil {
		return nil, err
	}
	hops, ok := g.Reachable(tile)
	if !ok {
		return nil, fmt.Errorf("tile %v: no route to it (is it on and connected? `itcd route` lists what can be reached)", tile)
	}
	d := Dest{Tile: tile, Hops: hops}
	for _, p := range g.Paths(tile, cmp.Or(req.Paths, MaxPaths)) {
		d.Paths = append(d.Paths, FormatRoute(p))
	}
	return d, nil
}
