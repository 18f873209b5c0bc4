package tilegrid

import (
	"reflect"
	"testing"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// A process tile's Tile Events are derived from the changes between two
// polled statuses: each step is one poll after the ones before it.
func TestProcessNoteDerivesEvents(t *testing.T) {
	a, b := p2p.TileID{0xa}, p2p.TileID{0xb}
	link := func(d packet.Dir, s control.NeighbourState, id *p2p.TileID) control.LinkStatus {
		return control.LinkStatus{Dir: d, State: s, Tile: id}
	}
	connect := func(d packet.Dir, id p2p.TileID) p2p.Event {
		return p2p.Event{Kind: packet.EventConnect, Dir: d, Tile: id}
	}
	disconnect := func(d packet.Dir, id p2p.TileID) p2p.Event {
		return p2p.Event{Kind: packet.EventDisconnect, Dir: d, Tile: id}
	}
	steps := []struct {
		what  string
		links []control.LinkStatus
		want  []p2p.Event
	}{
		{"nothing up", []control.LinkStatus{link(packet.ET, control.Absent, nil), link(packet.WT, control.LinkUp, nil)}, nil},
		{"ET live", []control.LinkStatus{link(packet.ET, control.Live, &a)}, []p2p.Event{connect(packet.ET, a)}},
		{"ET still live", []control.LinkStatus{link(packet.ET, control.Live, &a)}, nil},
		{"ET replaced", []control.LinkStatus{link(packet.ET, control.Live, &b)}, []p2p.Event{disconnect(packet.ET, a), connect(packet.ET, b)}},
		{"ET down, WT live", []control.LinkStatus{link(packet.ET, control.LinkUp, nil), link(packet.WT, control.Live, &a)},
			[]p2p.Event{disconnect(packet.ET, b), connect(packet.WT, a)}},
		{"not a link direction", []control.LinkStatus{link(packet.NT, control.Live, &b)}, nil},
		{"WT gone", []control.LinkStatus{link(packet.WT, control.Absent, nil)}, []p2p.Event{disconnect(packet.WT, a)}},
	}
	p := &process{}
	for _, s := range steps {
		st := &control.Status{Links: s.links}
		if got := p.note(st); !reflect.DeepEqual(got, s.want) {
			t.Errorf("%s: events %v, want %v", s.what, got, s.want)
		}
		if p.lastStatus() != st {
			t.Errorf("%s: lastStatus is not the status just polled", s.what)
		}
	}
}

// A process's link counters are the daemon's per-link counts of the last
// poll, every class summed.
func TestProcessLinkStats(t *testing.T) {
	p := &process{}
	if got := p.linkStats(); got != ([8]dev.LinkStats{}) {
		t.Errorf("before a poll: %v", got)
	}
	p.note(&control.Status{Links: []control.LinkStatus{{
		Dir: packet.SE,
		In:  map[string]control.Count{"mfm": {Packets: 1, Bytes: 10}, "service": {Packets: 2, Bytes: 20}},
		Out: map[string]control.Count{"local": {Packets: 4, Bytes: 40}},
	}}})
	got := p.linkStats()[packet.SE]
	if got.RecvPackets != 3 || got.RecvBytes != 30 || got.SentPackets != 4 || got.SentBytes != 40 {
		t.Errorf("SE counters %+v", got)
	}
	if _, err := p.deviceStats(); err == nil {
		t.Error("a process gave device counters it cannot read")
	}
}
