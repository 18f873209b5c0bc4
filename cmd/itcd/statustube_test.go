package main

import (
	"strings"
	"testing"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/tubes"
)

// TestWriteTubes: one line per tube, with who, what state (and why it
// failed) and how it moves; the accepting ports and the counters after.
func TestWriteTubes(t *testing.T) {
	var b strings.Builder
	writeTubes(&b, tubes.Status{
		Tubes: []tubes.TubeStatus{
			{ID: 3, Dir: packet.ET, Tile: "5f2c9a01d3e4b5a6", LocalPort: 49153, RemotePort: 7, Kind: "stream",
				Opener: true, State: "open", BytesOut: 1000, BytesIn: 20, Delivered: 900, InFlight: 100, Window: 32668, RTTms: 12},
			{ID: 4, Dir: packet.SW, Tile: "0102030405060708", LocalPort: 9, RemotePort: 50000, Kind: "message",
				State: "failed", Reason: "the neighbour on SW disconnected", MsgsOut: 2, MsgsIn: 5},
			{ID: 5, Dir: packet.NE, Route: "NE,ET,SE", Tile: "a1b2c3d4e5f60718", LocalPort: 49154, RemotePort: 8, Kind: "stream",
				Opener: true, State: "open"},
			{ID: 6, Dir: packet.ET, Route: "ET,ET", Stripes: []string{"ET,ET", "SE,NE,ET"}, Tile: "b1b2c3d4e5f60718", Kind: "stream", State: "open"},
		},
		Accepts:  []uint16{7, 9},
		Counters: tubes.Counters{PacketsOut: 12, Timeouts: 1, Forwarded: 40, PathChanges: 2},
	})
	out := b.String()
	for _, want := range []string{
		"ID", "RATE OUT/IN",
		"3   ET 5f2c9a01d3e4b5a6", "49153>7", "stream", "open", "900", "32668", "12ms",
		"9<50000", "message", "failed: the neighbour on SW disconnected", "(2 msgs)", "(5 msgs)",
		"accepting on ports [7 9]", "packets out 12", "timeouts 1",
		"a1b2c3d4e5f60718 via NE,ET,SE", "forwarded 40", "path changes 2", "b1b2c3d4e5f60718 via ET,ET + SE,NE,ET",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	// The section comes out of a status read as generic JSON.
	st := control.Status{Sections: map[string]any{"tube": map[string]any{"tubes": []any{map[string]any{"id": 3, "kind": "stream"}}}}}
	s, ok := tubeSection(&st)
	if !ok || len(s.Tubes) != 1 || s.Tubes[0].ID != 3 {
		t.Fatalf("decoded %+v, %v", s, ok)
	}
	if _, left := st.Sections["tube"]; left {
		t.Error("the section is still there for the generic printer")
	}
}
