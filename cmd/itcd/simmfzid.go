package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/sim/tilegrid"
)

// `itcd sim --mfzid`: tiles' physics identities, per tile or per region.
// Each flag is [SEL=]ID; SEL is all (the default), a tile (t-X-Y or
// X,Y), a rectangle of tiles TILE..TILE (corners included), or a half of
// the grid: x<N, x>=N, y<N, y>=N. Later flags win where they overlap.

// mfzidHelp is the flag's help text.
const mfzidHelp = "physics identity (mfzid) of tiles, `[SEL=]ID` (repeatable; later wins): SEL is all (default),\n" +
	"a tile t-X-Y, a rectangle t-0-0..t-1-3, or x<N, x>=N, y<N, y>=N. MFM packets flow only\n" +
	"between neighbours of one identity; the picture draws # where they differ. In-process\n" +
	"tiles only (not --procs). An ID with '=' in it needs a SEL: all=ID"

// mfzidSel is what a rule selects.
type mfzidSel uint8

const (
	selAll mfzidSel = iota
	selTile
	selRect
	selXLess
	selXAtLeast
	selYLess
	selYAtLeast
)

// maxSelN bounds N in x<N and the like: no grid is wider.
const maxSelN = 1 << 16

// mfzidRule gives tiles an identity: comparable, so a parse of its
// String is equal to it.
type mfzidRule struct {
	sel  mfzidSel
	a, b tilegrid.Coord // selTile: a; selRect: corners a and b
	n    int            // the half-grid selectors' N
	id   string
}

var halves = []struct {
	op  string
	sel mfzidSel
}{{"x>=", selXAtLeast}, {"x<", selXLess}, {"y>=", selYAtLeast}, {"y<", selYLess}}

// parseMFZIDRule parses one --mfzid value.
func parseMFZIDRule(s string) (mfzidRule, error) {
	var r mfzidRule
	op := "" // a half-grid selector's, whose ">=" holds an '=' of its own
	for _, h := range halves {
		if strings.HasPrefix(s, h.op) {
			op, r.sel = h.op, h.sel
			break
		}
	}
	sel, id, ok := strings.Cut(s[len(op):], "=")
	if !ok && op == "" {
		sel, id = "all", s
	}
	r.id = id
	if len(id) > dev.MaxMFZID {
		return r, fmt.Errorf("--mfzid %q: identity of %d bytes: at most %d (the itc_pkt module's limit)", s, len(id), dev.MaxMFZID)
	}
	if op != "" {
		n, err := strconv.Atoi(sel)
		if !ok || err != nil || n < 0 || n > maxSelN {
			return r, fmt.Errorf("--mfzid %q: %sN=ID wants a column or row number N of 0..%d", s, op, maxSelN)
		}
		r.n = n
		return r, nil
	}
	if sel == "all" {
		return r, nil
	}
	from, to, rect := strings.Cut(sel, "..")
	a, err := tilegrid.ParseCoord(from)
	if err == nil && rect {
		r.b, err = tilegrid.ParseCoord(to)
	}
	if err != nil {
		return r, fmt.Errorf("--mfzid %q: selector %q: want all, t-X-Y, t-X-Y..t-X-Y, x<N, x>=N, y<N or y>=N (an ID with '=' in it: all=ID)", s, sel)
	}
	r.a, r.sel = a, selTile
	if rect {
		r.sel = selRect
	}
	return r, nil
}

// String is the canonical form of the rule, which parses back to it.
func (r mfzidRule) String() string {
	var sel string
	switch r.sel {
	case selAll:
		sel = "all"
	case selTile:
		sel = r.a.Name()
	case selRect:
		sel = r.a.Name() + ".." + r.b.Name()
	default:
		for _, h := range halves {
			if h.sel == r.sel {
				sel = h.op + strconv.Itoa(r.n)
			}
		}
	}
	return sel + "=" + r.id
}

// selects reports whether the rule gives tile c its identity.
func (r mfzidRule) selects(c tilegrid.Coord) bool {
	switch r.sel {
	case selAll:
		return true
	case selTile:
		return c == r.a
	case selRect:
		return c.X >= min(r.a.X, r.b.X) && c.X <= max(r.a.X, r.b.X) && c.Y >= min(r.a.Y, r.b.Y) && c.Y <= max(r.a.Y, r.b.Y)
	case selXLess:
		return c.X < r.n
	case selXAtLeast:
		return c.X >= r.n
	case selYLess:
		return c.Y < r.n
	case selYAtLeast:
		return c.Y >= r.n
	}
	return false
}

// mfzidFlag is the repeatable --mfzid flag.
type mfzidFlag []mfzidRule

func (f *mfzidFlag) String() string {
	var s []string
	for _, r := range *f {
		s = append(s, r.String())
	}
	return strings.Join(s, " ")
}

func (f *mfzidFlag) Set(s string) error {
	r, err := parseMFZIDRule(s)
	if err != nil {
		return err
	}
	*f = append(*f, r)
	return nil
}

// check refuses tiles named that the grid does not have: a typo would
// otherwise leave every tile alike without a word.
func (f mfzidFlag) check(geo tilegrid.Geometry) error {
	for _, r := range f {
		if (r.sel == selTile || r.sel == selRect) && (!geo.Contains(r.a) || r.sel == selRect && !geo.Contains(r.b)) {
			return fmt.Errorf("--mfzid %s: not a tile of the %v grid (t-0-0 is the top-left)", r, geo)
		}
	}
	return nil
}

// of returns tile c's identity: the last rule that selects it, else "".
func (f mfzidFlag) of(c tilegrid.Coord) string {
	for i := len(f) - 1; i >= 0; i-- {
		if f[i].selects(c) {
			return f[i].id
		}
	}
	return ""
}

// hook is the grid's Config.MFZID, nil without the flag.
func (f mfzidFlag) hook() func(tilegrid.Coord) string {
	if len(f) == 0 {
		return nil
	}
	return f.of
}
