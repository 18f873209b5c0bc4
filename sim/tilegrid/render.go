package tilegrid

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
	"strings"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
)

// Text picture: each tile is a cell cellW characters wide and three lines
// high, odd rows shifted half a cell right as on the wall:
//
//	  \   /       NW and NE
//	- t-1-0 -     WT, the name, ET
//	  / 42% \     SW, progress (or "off" when stopped), SE
//
// A link's glyph shows what the tile knows of that neighbour: its own
// glyph (\ / -) when live, # when live but of other physics (the two
// tiles' mfzids differ, so MFM packets do not flow; shown where the
// tile's device can be read, see TileState.Device), ~ when the link is up
// but no itcd answers, x when the link is down, blank where the grid has
// no neighbour. The glyphs of
// the two ends of a link meet between the tiles.
const cellW = 14

// glyphs gives the line of each direction's glyph and its offset from the
// cell's centre column, and the glyph drawn for a live link.
var glyphs = map[packet.Dir]struct {
	line, dx int
	live     byte
}{
	packet.NW: {0, -3, '\\'}, packet.NE: {0, 3, '/'},
	packet.SW: {2, -3, '/'}, packet.SE: {2, 3, '\\'},
}

const (
	ansiReset  = "\x1b[0m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiPurple = "\x1b[35m"
	ansiDim    = "\x1b[2m"
	ansiBold   = "\x1b[1m"
)

// WriteText draws the grid as text: the brick wall with each tile's name,
// a glyph for each neighbour's state and its progress (see the comment on
// cellW). color adds ANSI colours for a terminal.
func WriteText(w io.Writer, geo Geometry, snap []TileState, color bool) error {
	var b bytes.Buffer
	type cell struct {
		ch  byte
		col string
	}
	width := geo.W*cellW + cellW/2
	for y := 0; y < geo.H; y++ {
		lines := make([][]cell, 3)
		for i := range lines {
			lines[i] = make([]cell, width)
			for j := range lines[i] {
				lines[i][j] = cell{ch: ' '}
			}
		}
		put := func(line, col int, s string, c string) {
			for i := 0; i < len(s); i++ {
				if col+i >= 0 && col+i < width {
					lines[line][col+i] = cell{s[i], c}
				}
			}
		}
		for x := 0; x < geo.W; x++ {
			c := Coord{x, y}
			s := snap[geo.Index(c)]
			mid := x*cellW + cellW/2 - 1
			if y&1 == 1 {
				mid += cellW / 2
			}
			name := s.Name
			if len(name) > cellW-5 {
				name = name[:cellW-5]
			}
			start := mid - len(name)/2
			if !s.Running {
				put(1, start, name, ansiDim)
				put(2, mid-1, "off", ansiRed)
				continue
			}
			put(1, start, name, ansiBold)
			for _, d := range packet.Links {
				st, ok := s.Neighbour(geo, d)
				if !ok {
					continue
				}
				line, col, live := 1, 0, byte('-')
				switch d {
				case packet.WT:
					col = start - 2
				case packet.ET:
					col = start + len(name) + 1
				default:
					g := glyphs[d]
					line, col, live = g.line, mid+g.dx, g.live
				}
				switch {
				case s.Status == nil:
					put(line, col, "?", ansiDim)
				case st == control.Live && incompatible(&s, d):
					put(line, col, "#", ansiPurple)
				case st == control.Live:
					put(line, col, string(live), ansiGreen)
				case st == control.LinkUp:
					put(line, col, "~", ansiYellow)
				default:
					put(line, col, "x", ansiRed)
				}
			}
			if p := s.Progress; p != nil {
				txt, col := "ok", ansiGreen
				if !p.Complete {
					pct := 0.0
					if p.Size > 0 {
						pct = 100 * float64(p.Have) / float64(p.Size)
					}
					txt, col = fmt.Sprintf("%d%%", min(99, int(pct))), ansiYellow
				}
				put(2, mid-1, txt, col)
			}
		}
		for _, l := range lines {
			cur := ""
			var row []byte
			for _, c := range l {
				if color && c.col != cur {
					if cur != "" {
						row = append(row, ansiReset...)
					}
					row = append(row, c.col...)
					cur = c.col
				}
				row = append(row, c.ch)
			}
			if color && cur != "" {
				row = append(row, ansiReset...)
			}
			b.Write(bytes.TrimRight(row, " "))
			b.WriteByte('\n')
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// SVGReport is what WriteSVG draws.
type SVGReport struct {
	Geometry
	Title string
	Tiles []TileState // in row-major order
	// Complete[i] is when tile i (row-major) completed, in seconds from
	// the push; negative or NaN if it never did. Nil: no push.
	Complete []float64
	Links    []LinkReport
}

// SVG layout: pointy-top hexagons, odd rows shifted half a hexagon right.
const (
	hexW   = 64.0             // width of a hexagon: the column pitch
	hexR   = hexW / 1.7320508 // its circumradius
	rowH   = 1.5 * hexR       // row pitch
	margin = hexW             // room around the wall
	legend = 56.0             // height of the legend strip
	lineDx = 3.0              // offset of the two directions of a link
	maxW   = 7.0              // stroke width of a busy link
	fontSz = 10.0             // font size
	never  = "#bbbbbb"        // fill of a tile that never completed
	noPush = "#e8eef4"        // fill when nothing was pushed
)

// Link colours: idle grey to busy blue.
var busyLo, busyHi = [3]float64{220, 220, 220}, [3]float64{20, 60, 200}

func (r *SVGReport) center(c Coord) (float64, float64) {
	x := margin + float64(c.X)*hexW
	if c.Y&1 == 1 {
		x += hexW / 2
	}
	return x, legend + margin + float64(c.Y)*rowH
}

// WriteSVG draws the grid: each tile a hexagon shaded by when it completed
// (green early, red late, grey never), each direction of each link a line
// whose width and colour show how busy it was.
func WriteSVG(w io.Writer, r SVGReport) error {
	var b strings.Builder
	width := 2*margin + float64(r.W)*hexW + hexW/2
	height := legend + 2*margin + float64(max(r.H-1, 0))*rowH
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="%.0f">`+"\n", width, height, width, height, fontSz)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="8" y="16" font-size="13">%s</text>`+"\n", html.EscapeString(r.Title))

	// Colours run from the first tile to complete after the source to the
	// last: pipelining brings them within a fraction of the whole time of
	// each other, and a scale from 0 would paint them all one red.
	first := math.Inf(1) // the source: it holds the file at once
	for _, t := range r.Complete {
		if t >= 0 {
			first = min(first, t)
		}
	}
	minT, maxT := math.Inf(1), 0.0
	for _, t := range r.Complete {
		if t > first {
			minT, maxT = min(minT, t), max(maxT, t)
		}
	}
	if math.IsInf(minT, 1) {
		minT, maxT = 0, max(0, first)
	}
	if r.Complete != nil {
		fmt.Fprintf(&b, `<text x="8" y="32">tiles: completed at %.1f s (green) .. %.1f s (red); the source at 0 s; grey: never</text>`+"\n", minT, maxT)
	} else {
		fmt.Fprintf(&b, `<text x="8" y="32">tiles: no file pushed</text>`+"\n")
	}
	fmt.Fprintf(&b, `<text x="8" y="48">links: width and blue show the share of the link's rate used</text>`+"\n")

	for i, s := range r.Tiles {
		cx, cy := r.center(s.Coord)
		fill := noPush
		if r.Complete != nil {
			fill = never
			if t := r.Complete[i]; t >= 0 {
				f := 0.0
				if maxT > minT {
					f = math.Max(0, (t-minT)/(maxT-minT))
				}
				fill = rgb(lerp([3]float64{40, 170, 60}, [3]float64{210, 50, 40}, f))
			}
		}
		var pts []string
		for k := 0; k < 6; k++ {
			a := math.Pi/6 + float64(k)*math.Pi/3
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", cx+hexR*math.Cos(a), cy+hexR*math.Sin(a)))
		}
		stroke := "#666666"
		if !s.Running {
			stroke = "#cc0000"
		}
		fmt.Fprintf(&b, `<polygon points="%s" fill="%s" stroke="%s"/>`+"\n", strings.Join(pts, " "), fill, stroke)
	}
	for _, l := range r.Links {
		x1, y1 := r.center(l.From)
		x2, y2 := r.center(l.To)
		// Shorten to the hexagons' edges and shift to the right of the
		// direction of travel, so the two directions sit side by side.
		dx, dy := x2-x1, y2-y1
		n := math.Hypot(dx, dy)
		ux, uy := dx/n, dy/n
		px, py := -uy*lineDx, ux*lineDx
		s, e := hexR*0.35, n-hexR*0.35
		width := 1 + (maxW-1)*l.Busy
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f" stroke-linecap="round"><title>%s %s: %d packets, %d bytes, %d dropped, %.0f%% busy</title></line>`+"\n",
			x1+ux*s+px, y1+uy*s+py, x1+ux*e+px, y1+uy*e+py, rgb(lerp(busyLo, busyHi, l.Busy)), width,
			l.From, l.Dir, l.Packets, l.Bytes, l.Drops, 100*l.Busy)
	}
	for i, s := range r.Tiles {
		cx, cy := r.center(s.Coord)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", cx, cy-2, s.Name)
		label := ""
		switch {
		case r.Complete != nil && r.Complete[i] >= 0:
			label = fmt.Sprintf("%.1f s", r.Complete[i])
		case r.Complete != nil:
			label = "never"
		case !s.Running:
			label = "stopped"
		}
		if label != "" {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", cx, cy+fontSz, label)
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func lerp(a, b [3]float64, f float64) [3]float64 {
	f = min(max(f, 0), 1)
	if math.IsNaN(f) {
		f = 0
	}
	return [3]float64{a[0] + (b[0]-a[0])*f, a[1] + (b[1]-a[1])*f, a[2] + (b[2]-a[2])*f}
}

func rgb(c [3]float64) string {
	return fmt.Sprintf("#%02x%02x%02x", int(c[0]+0.5), int(c[1]+0.5), int(c[2]+0.5))
}

// incompatible reports whether s's device knows link d to be up between
// tiles of other physics.
func incompatible(s *TileState, d packet.Dir) bool {
	ok, known := s.Compatible(d)
	return known && !ok
}
