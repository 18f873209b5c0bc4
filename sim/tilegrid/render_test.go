package tilegrid

import (
	"bytes"
	"encoding/xml"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
)

// fakeSnapshot is a 3x2 grid where every link is live except t-1-0's ET
// (down) and t-0-1 is stopped; t-1-1 has half the file.
func fakeSnapshot(geo Geometry) []TileState {
	var snap []TileState
	for _, c := range geo.Coords() {
		s := TileState{Coord: c, Name: c.Name(), Running: c != Coord{0, 1}}
		if s.Running {
			st := &control.Status{}
			for _, d := range packet.Links {
				ls := control.LinkStatus{Dir: d}
				if _, ok := geo.Neighbour(c, d); ok {
					ls.State = control.Live
				}
				if c == (Coord{1, 0}) && d == packet.ET {
					ls.State = control.Absent
				}
				st.Links = append(st.Links, ls)
			}
			s.Status = st
		}
		if c == (Coord{1, 1}) {
			s.Progress = &Progress{Have: 50, Size: 100}
		}
		if c == (Coord{0, 0}) {
			s.Progress = &Progress{Have: 100, Size: 100, Complete: true}
		}
		snap = append(snap, s)
	}
	return snap
}

func TestWriteText(t *testing.T) {
	geo := Geometry{3, 2}
	var b bytes.Buffer
	if err := WriteText(&b, geo, fakeSnapshot(geo), false); err != nil {
		t.Fatal(err)
	}
	want := `
    t-0-0 -     - t-1-0 x     - t-2-0
     ok  \       /     \       /     \
                        \     /       \
           t-0-1       - t-1-1 -     - t-2-1
            off           50%
`
	// The first line (no NE/NW in the top row) is blank.
	if got := b.String(); strings.TrimLeft(got, "\n") != strings.TrimLeft(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	b.Reset()
	WriteText(&b, geo, fakeSnapshot(geo), true)
	if !strings.Contains(b.String(), ansiGreen) || !strings.Contains(b.String(), ansiRed) {
		t.Error("no colours")
	}
}

func TestWriteSVG(t *testing.T) {
	geo := Geometry{4, 3}
	snap := fakeSnapshot(Geometry{4, 3})
	var links []LinkReport
	for i, l := range geo.AllLinks() {
		links = append(links, LinkReport{Link: l, Busy: float64(i%5) / 4, Packets: 10, Bytes: 2550})
	}
	complete := make([]float64, geo.Len())
	for i := range complete {
		complete[i] = float64(i)
	}
	complete[5] = math.NaN()
	for _, c := range [][]float64{complete, nil} {
		var b bytes.Buffer
		if err := WriteSVG(&b, SVGReport{Geometry: geo, Title: "test <grid>", Tiles: snap, Complete: c, Links: links}); err != nil {
			t.Fatal(err)
		}
		if err := xml.Unmarshal(b.Bytes(), new(struct{})); err != nil {
			t.Fatalf("not XML: %v", err)
		}
		s := b.String()
		if strings.Count(s, "<polygon") != geo.Len() || strings.Count(s, "<line") != len(links) || !strings.Contains(s, "test &lt;grid&gt;") {
			t.Errorf("svg: %d tiles, %d links", strings.Count(s, "<polygon"), strings.Count(s, "<line"))
		}
		if c != nil && (!strings.Contains(s, ">never<") || !strings.Contains(s, never)) {
			t.Error("a tile that never completed is not marked")
		}
		if p := os.Getenv("TILEGRID_SVG"); p != "" && c != nil {
			os.WriteFile(p, b.Bytes(), 0o644)
		}
	}
}

// A live link whose device says "up" but not "MFM-compatible" is drawn
// #; where the device cannot be read (a process tile), as live.
func TestWriteTextIncompatible(t *testing.T) {
	geo := Geometry{2, 1}
	snap := fakeSnapshot(geo)
	var d0, d1 dev.Status
	d0[packet.ET], d1[packet.WT] = dev.LinkUp, dev.LinkMFM
	snap[0].Device, snap[1].Device = &d0, &d1
	var b bytes.Buffer
	if err := WriteText(&b, geo, snap, false); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.Contains(got, "t-0-0 #     - t-1-0") {
		t.Errorf("got\n%s", got)
	}
	snap[0].Device = nil
	b.Reset()
	WriteText(&b, geo, snap, false)
	if got := b.String(); !strings.Contains(got, "t-0-0 -     - t-1-0") {
		t.Errorf("without device state, got\n%s", got)
	}
}
