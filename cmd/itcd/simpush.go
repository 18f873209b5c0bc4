package main

import (
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/services/mfz"
	"github.com/t2tiles/itcd/services/mfz/dist"
	"github.com/t2tiles/itcd/sim/tilegrid"
)

// pushFile is the file `itcd sim --push` spreads, and when each tile first
// held it.
type pushFile struct {
	path    string
	name    string
	version int64
	size    int64 // bytes of the MFZ file: S in the lower bounds
	body    int64 // bytes of its body, what the tiles' progress counts
	src     tilegrid.Coord
	clk     *clock.Clock // the grid's time

	mu       sync.Mutex
	pushedAt time.Time
	doneAt   map[tilegrid.Coord]time.Time
}

// readPushFile reads the header and manifest of a signed file; the
// daemon at the source verifies the signature when it is pushed.
func readPushFile(path string) (*pushFile, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	mf, size, err := mfz.ReadFileAt(abs)
	if err != nil {
		return nil, err
	}
	return &pushFile{path: abs, name: mf.Manifest.Name, version: mf.Manifest.Version, size: size,
		body: mf.Manifest.RegionLen(), doneAt: map[tilegrid.Coord]time.Time{}}, nil
}

// progressHook is the grid's Progress hook, nil without a push.
func (p *pushFile) progressHook() func(tilegrid.Coord, *control.Status) *tilegrid.Progress {
	if p == nil {
		return nil
	}
	return func(c tilegrid.Coord, st *control.Status) *tilegrid.Progress {
		pr, ok := dist.ProgressOf(st.Sections, p.name, p.version)
		if !ok {
			return &tilegrid.Progress{Size: p.body}
		}
		out := &tilegrid.Progress{Have: pr.Have, Size: pr.Size, Complete: pr.Complete, CompletedAt: pr.CompletedAt}
		if pr.Complete {
			p.mu.Lock()
			if _, seen := p.doneAt[c]; !seen && !p.pushedAt.IsZero() {
				at := pr.CompletedAt
				if at.IsZero() || at.Before(p.pushedAt) {
					at = p.clk.Now() // first seen: at most a poll late
				}
				p.doneAt[c] = at
			}
			p.mu.Unlock()
		}
		return out
	}
}

// pushAt pushes the file through the source tile's control socket, as
// `itcd push` does there.
func (p *pushFile) pushAt(g *tilegrid.Grid) error {
	t := g.Tile(p.src)
	c, err := control.Dial(t.RunDir)
	if err != nil {
		return err
	}
	defer c.Close()
	p.mu.Lock()
	p.pushedAt = p.clk.Now()
	p.mu.Unlock()
	var res dist.PushResult
	return c.Call("push", dist.PushArgs{Path: p.path}, &res)
}

// completeTimes gives, in row-major order, seconds from the push until
// each tile held the file, -1 for tiles that never did.
func (p *pushFile) completeTimes(snap []tilegrid.TileState) []float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]float64, len(snap))
	for i, s := range snap {
		out[i] = -1
		if at, ok := p.doneAt[s.Coord]; ok {
			out[i] = at.Sub(p.pushedAt).Seconds()
		}
	}
	return out
}

func (p *pushFile) allComplete(snap []tilegrid.TileState) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.doneAt) == len(snap)
}

// pollComplete asks each tile not yet seen holding the file for its
// progress (the hook records completions), and reports whether every
// tile holds it.
func (p *pushFile) pollComplete(g *tilegrid.Grid) bool {
	tiles := g.Tiles()
	for _, t := range tiles {
		p.mu.Lock()
		_, done := p.doneAt[t.Coord]
		p.mu.Unlock()
		if !done {
			g.ProgressOf(t.Coord)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.doneAt) == len(tiles)
}

// summary says how far the push has come.
func (p *pushFile) summary(snap []tilegrid.TileState) string {
	times := p.completeTimes(snap)
	n, last := 0, 0.0
	for _, t := range times {
		if t >= 0 {
			n++
			last = math.Max(last, t)
		}
	}
	if n == len(times) {
		return fmt.Sprintf("all %d tiles hold %s after %.2fs", n, p.name, last)
	}
	return fmt.Sprintf("%d of %d tiles hold %s", n, len(times), p.name)
}

// fillJSON adds the push's figures to the report: completion, the lower
// bounds of ../shared/T2-FACTS.md for this grid, and their ratio.
func (p *pushFile) fillJSON(out *simJSON, geo tilegrid.Geometry, prof dev.LinkProfile, completeS []float64) {
	rate := prof.Rate
	src := p.src.Name()
	out.Source, out.Size = &src, &p.size
	out.Ecc, out.Lambda = geo.Eccentricity(p.src), geo.Lambda(p.src)
	all := 0.0
	for _, t := range completeS {
		if t < 0 {
			all = math.NaN()
			break
		}
		all = math.Max(all, t)
	}
	if !math.IsNaN(all) {
		v := round3(all)
		out.AllDone = &v
	}
	if lb := geo.LowerBound(p.src, rate, p.size); !math.IsNaN(lb) {
		v := round3(lb)
		out.Lower = &v
		if out.AllDone != nil && lb > 0 {
			r := math.Round(*out.AllDone/lb*1000) / 1000
			out.Ratio = &r
		}
	}
	if mb := geo.MultipathBound(p.src, rate, p.size); !math.IsNaN(mb) {
		v := round3(mb)
		out.Multi = &v
		// With loss on every link, each packet gets through with
		// probability 1 - loss: no protocol beats the bound divided by it.
		if prof.Loss > 0 && prof.Loss < 1 {
			la := round3(mb / (1 - prof.Loss))
			out.LossAdjusted = &la
		}
	}
}

// boundsSummary puts the push's result next to the physical limits: the
// multipath bound (lambda disjoint paths from the source), which a swarm
// can approach, and the single-tree bound, which pulling every block down
// one tree cannot beat.
func boundsSummary(r *simJSON) string {
	if r.Lower == nil || r.Multi == nil || *r.Multi <= 0 {
		return "no lower bound: the links are unlimited, or one tile holds everything"
	}
	b := fmt.Sprintf("the multipath bound (%d disjoint paths): %.2fs; single tree (D = %d hops): %.2fs",
		r.Lambda, *r.Multi, r.Ecc, *r.Lower)
	if r.LossAdjusted != nil {
		b += fmt.Sprintf("; through the links' loss: %.2fs", *r.LossAdjusted)
	}
	if r.AllDone == nil {
		return "not every tile completed; " + b
	}
	return fmt.Sprintf("every tile complete after %.2fs = %.2f x %s", *r.AllDone, *r.AllDone / *r.Multi, b)
}
