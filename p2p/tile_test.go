package p2p

import (
	"bytes"
	"errors"
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
)

func TestEventRoundTrip(t *testing.T) {
	for _, e := range []Event{
		{Kind: packet.EventConnect, Dir: packet.ET, Tile: TileID{1, 2, 3, 4, 5, 6, 7, 8}},
		{Kind: packet.EventDisconnect, Dir: packet.NW},
	} {
		b, err := AppendEvent(nil, e)
		if err != nil {
			t.Fatalf("AppendEvent(%v): %v", e, err)
		}
		if len(b) != EventPacketLen {
			t.Errorf("AppendEvent(%v) is %d bytes, want %d", e, len(b), EventPacketLen)
		}
		got, err := ParseEvent(b)
		if err != nil || got != e {
			t.Errorf("ParseEvent(AppendEvent(%v)) = %v, %v", e, got, err)
		}
	}
}

func TestParseEventRefuses(t *testing.T) {
	short, _ := AppendEvent(nil, Event{Kind: packet.EventConnect, Dir: packet.ET, Tile: TileID{9}})
	if _, err := ParseEvent(short[:EventPacketLen-1]); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("short event: err = %v, want ErrNoIdentity", err)
	}
	svc, _ := packet.AppendService(nil, packet.ET, 2, []byte("x"))
	if _, err := ParseEvent(svc); err == nil {
		t.Error("a service packet parsed as an event")
	}
}

func TestTileIDText(t *testing.T) {
	id := TileID{0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3}
	b, _ := id.MarshalText()
	var back TileID
	if err := back.UnmarshalText(b); err != nil || back != id {
		t.Fatalf("UnmarshalText(%s) = %v, %v", b, back, err)
	}
	if _, err := ParseTileID("xyz"); err == nil {
		t.Error("ParseTileID accepted 3 characters")
	}
}

// FuzzParseEvent: a parsed event appends back to the bytes it was parsed
// from (up to the identity: later versions may add arguments).
func FuzzParseEvent(f *testing.F) {
	b, _ := AppendEvent(nil, Event{Kind: packet.EventConnect, Dir: packet.SE, Tile: TileID{1}})
	f.Add(b)
	f.Add([]byte{0xc4})
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := ParseEvent(in)
		if err != nil {
			return
		}
		out, err := AppendEvent(nil, e)
		if err != nil {
			t.Fatalf("AppendEvent(%v) of a parsed event: %v", e, err)
		}
		back, err := ParseEvent(out)
		if err != nil || back != e {
			t.Fatalf("ParseEvent(AppendEvent(%v)) = %v, %v", e, back, err)
		}
		if !bytes.Equal(out[1:], in[1:len(out)]) {
			t.Fatalf("event %x re-encoded as %x", in, out)
		}
	})
}
