package daemon

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// The kernel's third state, link by link: TEP 3 when MFM packets start to
// flow, 4 when they stop, judged from the device's LinkMFM and the
// physics identity digests in hellos.
func TestLinkModelMFMCompatibility(t *testing.T) {
	a := p2p.TileID{0xa}
	x, y := digestOf([]byte("demo[x]")), digestOf([]byte("demo[y]"))
	up := func(mfm bool, own mfzDigest) input { return input{kind: inLinkUp, statusMFM: mfm, own: own} }
	down := input{kind: inLinkDown}
	hello := func(peer, own mfzDigest) input {
		return input{kind: inHello, own: own, hello: Hello{Version: 1, Tile: a, TS: 1, MFZDigest: peer.b, HasMFZDigest: peer.ok}}
	}
	const (
		c  = packet.EventMFMCompatible
		i  = packet.EventMFMIncompatible
		cn = packet.EventConnect
		dc = packet.EventDisconnect
	)
	cases := []struct {
		name   string
		steps  []input
		want   []packet.Event
		compat bool
	}{
		{"link up only", []input{up(false, x), up(false, x)}, nil, false},
		{"status 2", []input{up(true, x)}, []packet.Event{c}, true},
		{"status 2 twice says it once", []input{up(true, x), up(true, x)}, []packet.Event{c}, true},
		{"2 then 1", []input{up(true, x), up(false, x)}, []packet.Event{c, i}, false},
		{"2 then down: 4 before the disconnect", []input{up(true, x), hello(x, x), down}, []packet.Event{c, cn, i, dc}, false},
		{"down when never compatible", []input{up(false, x), hello(x, x), down}, []packet.Event{cn, dc}, false},
		{"same digests", []input{up(true, x), hello(x, x)}, []packet.Event{c, cn}, true},
		{"2->1 quirk: status stays 2, digests differ", []input{up(true, x), hello(x, x), hello(y, x)}, []packet.Event{c, cn, i}, false},
		{"our identity changed, status still 2", []input{up(true, x), hello(x, x), up(true, y)}, []packet.Event{c, cn, i}, false},
		{"both changed to the same", []input{up(true, x), hello(x, x), up(true, y), hello(y, y)}, []packet.Event{c, cn, i, c}, true},
		{"a hello without digest: status decides", []input{up(true, x), hello(mfzDigest{}, x)}, []packet.Event{c, cn}, true},
		{"own digest unknown: status decides", []input{up(true, mfzDigest{}), hello(y, mfzDigest{})}, []packet.Event{c, cn}, true},
		{"digests agree but status 1", []input{up(false, x), hello(x, x)}, []packet.Event{cn}, false},
	}
	r := linkRules{deadAfter: time.Second, identityHold: time.Second}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := linkModel{dir: packet.SE}
			now := time.Unix(1000, 0)
			var got []packet.Event
			for _, in := range tc.steps {
				now = now.Add(10 * time.Millisecond)
				fx := m.step(in, now, r)
				for _, e := range fx.events {
					got = append(got, e.Kind)
					if e.Dir != packet.SE {
						t.Errorf("%v on %v, want SE", e.Kind, e.Dir)
					}
					if e.Kind == i && !fx.clearMFM {
						t.Errorf("a 4 without dropping the queued MFM packets")
					}
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events %v, want %v", got, tc.want)
			}
			if m.mfm != tc.compat {
				t.Errorf("compatible %v, want %v", m.mfm, tc.compat)
			}
		})
	}
}

// TEP 3 and 4 name the live tile, or none when no itcd is live on the link.
func TestLinkModelMFMEventTile(t *testing.T) {
	a := p2p.TileID{0xa}
	r := linkRules{deadAfter: time.Second, identityHold: time.Second}
	m := linkModel{dir: packet.NW}
	now := time.Unix(1000, 0)
	fx := m.step(input{kind: inLinkUp, statusMFM: true}, now, r)
	if len(fx.events) != 1 || fx.events[0].Tile != (p2p.TileID{}) {
		t.Fatalf("compatible before any hello: %v, want one with no tile", fx.events)
	}
	m.step(input{kind: inHello, hello: Hello{Version: 1, Tile: a, TS: 1}}, now, r)
	fx = m.step(input{kind: inLinkUp, statusMFM: false}, now, r)
	if len(fx.events) != 1 || fx.events[0].Tile != a {
		t.Fatalf("incompatible with %v live: %v", a, fx.events)
	}
}

func TestParseMFZIDMessage(t *testing.T) {
	long := make([]byte, 100)
	for i := range long {
		long[i] = 'a'
	}
	cases := []struct {
		name string
		msg  string
		id   string
		err  error
	}{
		{"identity", "MFZID demo[1a2b]", "demo[1a2b]", nil},
		{"empty identity", "MFZID ", "", nil},
		{"100 bytes", "MFZID " + string(long), string(long), nil},
		{"101 bytes", "MFZID " + string(long) + "a", "", ErrMFZIDMessage},
		{"no space", "MFZIDdemo", "", ErrMFZIDMessage},
		{"tag alone", "MFZID", "", ErrMFZIDMessage},
		{"space inside", "MFZID demo x", "", ErrMFZIDMessage},
		{"newline", "MFZID demo\n", "", ErrMFZIDMessage},
		{"NUL", "MFZID de\x00mo", "", ErrMFZIDMessage},
		{"high byte", "MFZID d\xe9mo", "", ErrMFZIDMessage},
		{"lower case tag", "mfzid demo", "", ErrNotMFZIDMessage},
		{"MFM packet", "\xa2\x20\x01", "", ErrNotMFZIDMessage},
		{"empty", "", "", ErrNotMFZIDMessage},
		{"bind", "bind 3", "", ErrNotMFZIDMessage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := ParseMFZIDMessage([]byte(tc.msg))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || string(id) != tc.id {
				t.Fatalf("got %q, %v; want %q", id, err, tc.id)
			}
		})
	}
}

// An identity message and an MFM packet never look alike: byte 0 of one
// is 'M' (STND clear), of the other 0xA0..0xA7.
func FuzzParseMFZIDMessage(f *testing.F) {
	for _, s := range []string{"MFZID demo[ab]", "MFZID ", "MFZID", "MFZIDx", "MFZID a b", "\xa1\x20"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := ParseMFZIDMessage(b)
		if err != nil {
			if len(b) > 0 && b[0]&packet.BitSTND != 0 && !errors.Is(err, ErrNotMFZIDMessage) {
				t.Fatalf("%x: a standard packet taken for an identity message: %v", b, err)
			}
			return
		}
		if len(id) > dev.MaxMFZID || CheckMFZID(id) != nil {
			t.Fatalf("%x: accepted identity %q", b, id)
		}
		if enc := AppendMFZIDMessage(nil, id); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded %q, input %q", enc, b)
		}
		if _, err := checkMFMWrite(b); err == nil {
			t.Fatalf("%q is both an identity and an MFM packet", b)
		}
	})
}
