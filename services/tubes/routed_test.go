package tubes

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"slices"
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

var (
	tileSrc = p2p.TileID{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}
	tileDst = p2p.TileID{0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8}
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRoutedWireBytes pins the ROUTED format byte by byte (notes/protocol.md,
// "Service 9"): type 7, N, HOP 1, the path two links a byte (high nibble
// first, an odd path padded with 0), SRC, then the inner message whose CRC
// covers DST, SRC and the inner body.
func TestRoutedWireBytes(t *testing.T) {
	inner := appendCancel(nil, 0x1234) // 06 1234 CRC
	for _, c := range []struct {
		name   string
		path   []packet.Dir
		header string
	}{
		{"one link", []packet.Dir{packet.ET}, "07 01 01 20"},
		{"two links", []packet.Dir{packet.ET, packet.SE}, "07 02 01 23"},
		{"three links", []packet.Dir{packet.ET, packet.SE, packet.WT}, "07 03 01 23 60"},
		{"four links", []packet.Dir{packet.NE, packet.NW, packet.SW, packet.ET}, "07 04 01 17 52"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := appendRouted(nil, c.path, tileSrc, tileDst, inner, 0)
			want := unhex(t, stripSpaces(c.header)+"1122334455667788"+"061234")
			// The CRC, computed here by hand: DST, SRC, the inner body.
			crc := crc32.Checksum(append(append(append([]byte(nil), tileDst[:]...), tileSrc[:]...), 0x06, 0x12, 0x34), crc32.MakeTable(crc32.Castagnoli))
			want = binary.BigEndian.AppendUint32(want, crc)
			if !bytes.Equal(got, want) {
				t.Fatalf("got  %x\nwant %x", got, want)
			}
			if len(got) != routedLen(len(c.path))+len(inner) {
				t.Fatalf("%d bytes, routedLen says %d+%d", len(got), routedLen(len(c.path)), len(inner))
			}
			// The inner message's own CRC is not the one sent: a
			// neighbour's parser cannot take it for a tube message.
			if bytes.Equal(got[len(got)-crcLen:], inner[len(inner)-crcLen:]) {
				t.Fatal("the inner CRC was not recomputed")
			}
		})
	}
	// Golden, all of it: a change of format shows here first.
	got := appendRouted(nil, []packet.Dir{packet.ET, packet.SE, packet.WT}, tileSrc, tileDst, inner, 0)
	if g := hex.EncodeToString(got); g != "070301236011223344556677880612342afb7307" {
		t.Fatalf("golden %s", g)
	}
}

func stripSpaces(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)) }

// routedWith returns a ROUTED header of n links (each ET), hop taken,
// from src, followed by inner.
func routedWith(n, hop int, src p2p.TileID, inner []byte) []byte {
	path := slices.Repeat([]packet.Dir{packet.ET}, n)
	b := appendRouted(nil, path, src, tileDst, inner, 0)
	b[2] = byte(hop)
	return b
}

// TestParseRoutedRefuses: every malformed header is refused with the
// reason's sentinel, before anything reads past the header.
func TestParseRoutedRefuses(t *testing.T) {
	inner := appendCancel(nil, 1)
	good := routedWith(3, 1, tileSrc, inner)
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, errShort},
		{"two bytes", []byte{msgRouted, 1}, errShort},
		{"not ROUTED", mod(func(b []byte) { b[0] = msgData }), errShort},
		{"N 0", mod(func(b []byte) { b[1] = 0 }), errRoute},
		{"N 33", append([]byte{msgRouted, 33, 1}, make([]byte, 40)...), errRoute},
		{"N 255", mod(func(b []byte) { b[1] = 255 }), errRoute},
		{"HOP 0", mod(func(b []byte) { b[2] = 0 }), errRoute},
		{"HOP over N", mod(func(b []byte) { b[2] = 4 }), errRoute},
		{"step NT", mod(func(b []byte) { b[3] = 0x02 }), errRoute},
		{"step ST", mod(func(b []byte) { b[3] = 0x24 }), errRoute},
		{"step 8", mod(func(b []byte) { b[4] = 0x80 }), errRoute},
		{"step 15", mod(func(b []byte) { b[3] = 0xf2 }), errRoute},
		{"padding not 0", mod(func(b []byte) { b[4] = 0x21 }), errRoute},
		{"zero SRC", routedWith(3, 1, p2p.TileID{}, inner), errRoute},
		{"short path", good[:4], errShort},
		{"short SRC", good[:routedLen(3)-1], errShort},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := parseRouted(c.b); !errors.Is(err, c.want) {
				t.Fatalf("%x: err %v, want %v", c.b, err, c.want)
			}
		})
	}
	// The header alone, with nothing inside, parses: the inner message
	// is its destination's to check.
	if _, in, err := parseRouted(good[:routedLen(3)]); err != nil || len(in) != 0 {
		t.Fatalf("header alone: %v, %d inner bytes", err, len(in))
	}
	for _, hop := range []int{1, 2, 3} {
		h, in, err := parseRouted(routedWith(3, hop, tileSrc, inner))
		if err != nil || h.n != 3 || h.hop != hop || h.src != tileSrc || !bytes.Equal(in[:len(in)-crcLen], inner[:len(inner)-crcLen]) {
			t.Fatalf("hop %d: %+v %v", hop, h, err)
		}
	}
}

// TestParseRoutedMsg: the inner message passes only at the tile the path
// ends at and from the sender named; a ROUTED inside a ROUTED never does.
func TestParseRoutedMsg(t *testing.T) {
	data := appendData(nil, 9, 1000, flagFin, []byte("hello"))
	p := appendRouted(nil, []packet.Dir{packet.ET, packet.ET}, tileSrc, tileDst, data, 0)
	_, inner, err := parseRouted(p)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseRoutedMsg(inner, tileDst, tileSrc)
	if err != nil || m.typ != msgData || m.id != 9 || m.seq != 1000 || string(m.data) != "hello" {
		t.Fatalf("at its destination: %+v %v", m, err)
	}
	other := p2p.TileID{1, 2, 3, 4, 5, 6, 7, 8}
	if _, err := parseRoutedMsg(inner, other, tileSrc); !errors.Is(err, errCRC) {
		t.Fatalf("at another tile: %v, want %v", err, errCRC)
	}
	if _, err := parseRoutedMsg(inner, tileDst, other); !errors.Is(err, errCRC) {
		t.Fatalf("from another sender: %v, want %v", err, errCRC)
	}
	// As a neighbour's message (no identities in its CRC) it fails too.
	if _, err := parseMsg(inner); !errors.Is(err, errCRC) {
		t.Fatalf("read as a neighbour's message: %v", err)
	}
	// A ROUTED inside a ROUTED, however well sealed, is refused.
	nested := appendRouted(nil, []packet.Dir{packet.ET}, tileSrc, tileDst, seal(routedWith(2, 1, tileSrc, appendCancel(nil, 1))), 0)
	_, inner, err = parseRouted(nested)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseRoutedMsg(inner, tileDst, tileSrc); !errors.Is(err, errType) {
		t.Fatalf("nested ROUTED: %v, want %v", err, errType)
	}
	for _, n := range []int{0, 3, 6} {
		if _, err := parseRoutedMsg(inner[:n], tileDst, tileSrc); !errors.Is(err, errShort) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
}

// TestRoutedBack: the way home is the path reversed, each link its
// opposite.
func TestRoutedBack(t *testing.T) {
	for _, c := range []struct{ path, back []packet.Dir }{
		{[]packet.Dir{packet.ET}, []packet.Dir{packet.WT}},
		{[]packet.Dir{packet.ET, packet.SE}, []packet.Dir{packet.NW, packet.WT}},
		{[]packet.Dir{packet.NE, packet.ET, packet.SW}, []packet.Dir{packet.NE, packet.WT, packet.SW}},
	} {
		h, _, err := parseRouted(appendRouted(nil, c.path, tileSrc, tileDst, appendCancel(nil, 1), 0))
		if err != nil {
			t.Fatal(err)
		}
		if got := h.back(); !slices.Equal(got, c.back) {
			t.Errorf("%v back: %v, want %v", c.path, got, c.back)
		}
	}
}

// TestSegmentForFits: the biggest DATA a tube on paths of hops links
// sends, in its ROUTED message, fits a packet for every hops.
func TestSegmentForFits(t *testing.T) {
	if segmentFor(0) != MaxSegment {
		t.Fatalf("a neighbour's tube: %d", segmentFor(0))
	}
	for hops := 1; hops <= MaxHops; hops++ {
		seg := segmentFor(hops)
		data := appendData(nil, 0xffff, 1<<32-1, flagFin, make([]byte, seg))
		p := appendRouted(nil, slices.Repeat([]packet.Dir{packet.SW}, hops), tileSrc, tileDst, data, 0)
		if len(p) > maxMsg {
			t.Fatalf("%d hops: %d bytes, over %d", hops, len(p), maxMsg)
		}
		if hops%2 == 0 && len(p) != maxMsg {
			t.Errorf("%d hops: %d bytes, %d unused", hops, len(p), maxMsg-len(p))
		}
		if _, _, err := parseRouted(p); err != nil {
			t.Fatalf("%d hops: %v", hops, err)
		}
	}
}

// FuzzParseRouted: any bytes parse or are refused without a panic; a
// header that parses is within the bounds, and re-encoded (with the same
// inner message) gives the same header bytes.
func FuzzParseRouted(f *testing.F) {
	inner := appendData(nil, 3, 7, 0, []byte("xyz"))
	f.Add(appendRouted(nil, []packet.Dir{packet.ET}, tileSrc, tileDst, inner, 0))
	f.Add(appendRouted(nil, []packet.Dir{packet.ET, packet.SE, packet.NW}, tileSrc, tileDst, inner, 0))
	f.Add(routedWith(MaxHops, MaxHops, tileSrc, inner))
	f.Add(routedWith(2, 2, tileSrc, inner)[:routedLen(2)])
	f.Add([]byte{msgRouted, 0, 0})
	f.Add([]byte{msgRouted, 1, 1, 0x21})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, in, err := parseRouted(b)
		if err != nil {
			return
		}
		if h.n < 1 || h.n > MaxHops || h.hop < 1 || h.hop > h.n || h.src.IsZero() {
			t.Fatalf("parsed out of bounds: %+v", h)
		}
		hl := routedLen(h.n)
		if len(b) != hl+len(in) {
			t.Fatalf("%d bytes: header %d and inner %d", len(b), hl, len(in))
		}
		back := h.back()
		if len(back) != h.n {
			t.Fatalf("back %v of %d links", back, h.n)
		}
		// Re-encode with a sealed inner message (appendRouted writes
		// its CRC) and put back the links taken.
		sealed := seal([]byte{msgCancel, 0, 1})
		var flags byte
		if h.ce {
			flags |= routedCE
		}
		if h.ece {
			flags |= routedECE
		}
		out := appendRouted(nil, h.path[:h.n], h.src, tileDst, sealed, flags)
		out[2] = byte(h.hop)
		if !bytes.Equal(out[:hl], b[:hl]) {
			t.Fatalf("header %x re-encoded as %x", b[:hl], out[:hl])
		}
		h2, _, err := parseRouted(out)
		if err != nil || h2 != h {
			t.Fatalf("re-encoded header parses as %+v, %v", h2, err)
		}
	})
}
