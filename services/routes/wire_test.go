package routes

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

var (
	tileA = p2p.TileID{1, 2, 3, 4, 5, 6, 7, 8}
	tileB = p2p.TileID{0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18}
	tileC = p2p.TileID{0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28}
)

// noSig is the hex of an unsigned LSA's PUB and SIG.
var noSig = strings.Repeat("00", sigLen)

func TestWireBytes(t *testing.T) {
	l := LSA{Origin: tileA, Seq: 0x0a0b0c0d, N: 2}
	l.Links[0] = Link{Dir: packet.ET, Tile: tileB}
	l.Links[1] = Link{Dir: packet.NW, Tile: tileC}
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		// Unsigned: PUB and SIG all zero.
		{"LSA", AppendLSA(nil, &l),
			"4c" + "0102030405060708" + "0a0b0c0d" + "02" + "02" + "1112131415161718" + "07" + "2122232425262728" + noSig + "6e1292fe"},
		{"LSA of no links", AppendLSA(nil, &LSA{Origin: tileB, Seq: 1}),
			"4c" + "1112131415161718" + "00000001" + "00" + noSig + "7b4dd4d9"},
		{"ACK", AppendAck(nil, []Ack{{tileA, 7}, {tileB, 0xffffffff}}),
			"41" + "02" + "0102030405060708" + "00000007" + "1112131415161718" + "ffffffff" + "ccb664b1"},
		{"appended after a prefix", AppendAck([]byte{0xee}, []Ack{{tileC, 1}}),
			"ee" + "41" + "01" + "2122232425262728" + "00000001" + "bc31d950"},
	}
	for _, tc := range tests {
		if got := hex.EncodeToString(tc.got); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	// The CRC is CRC-32C of everything before it, big-endian.
	b := AppendLSA(nil, &l)
	if crc := crc32.Checksum(b[:len(b)-4], crc32.MakeTable(crc32.Castagnoli)); binary.BigEndian.Uint32(b[len(b)-4:]) != crc {
		t.Errorf("LSA CRC is not CRC-32C of its body")
	}
	if len(AppendLSA(nil, &LSA{Origin: tileA, Seq: 1, N: MaxLinks})) != maxLSALen {
		t.Errorf("a full LSA is not maxLSALen")
	}
	if len(AppendAck(nil, make([]Ack, 40))) != maxAckLen {
		t.Errorf("AppendAck of 40 acks did not stop at %d", maxAcks)
	}
	if maxLSALen > packet.MaxServicePayload || maxAckLen > packet.MaxServicePayload {
		t.Errorf("messages of %d and %d bytes do not fit a service packet of %d", maxLSALen, maxAckLen, packet.MaxServicePayload)
	}
}

// seal appends the CRC a body needs.
func seal(body []byte) []byte {
	return binary.BigEndian.AppendUint32(body, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
}

// lsaBody is an LSA's bytes before the CRC, with n links from dirs.
func lsaBody(origin p2p.TileID, n byte, dirs ...byte) []byte {
	b := append([]byte{msgLSA}, origin[:]...)
	b = append(b, 0, 0, 0, 9, n)
	for i, d := range dirs {
		b = append(b, d)
		b = append(b, tileB[:7]...)
		b = append(b, byte(i+1))
	}
	return append(b, make([]byte, sigLen)...)
}

func ackBody(n byte, entries int) []byte {
	b := []byte{msgAck, n}
	for i := range entries {
		b = append(b, tileA[:]...)
		b = append(b, 0, 0, 0, byte(i))
	}
	return b
}

func TestParseMessageRejects(t *testing.T) {
	good := AppendLSA(nil, &LSA{Origin: tileA, Seq: 3, N: 1, Links: [MaxLinks]Link{{packet.SE, tileB}}})
	badCRC := bytes.Clone(good)
	badCRC[5] ^= 1
	zeroNeighbour := lsaBody(tileA, 1, byte(packet.ET))
	clear(zeroNeighbour[lsaHeader+1:])
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"shorter than type and CRC", []byte{msgAck, 1, 2, 3}, ErrShort},
		{"bad CRC", badCRC, ErrCRC},
		{"CRC only", seal(nil)[:4], ErrShort},
		{"unknown type", seal([]byte{'X', 1, 2}), ErrType},
		{"LSA header cut", seal(lsaBody(tileA, 0)[:lsaHeader-1]), ErrShort},
		{"LSA without its signature", seal(lsaBody(tileA, 0)[:lsaHeader]), ErrShort},
		{"LSA of 7 links", seal(lsaBody(tileA, 7, 1, 2, 3, 5, 6, 7, 1)), ErrField},
		{"LSA of 255 links", seal(lsaBody(tileA, 255)), ErrField},
		{"LSA says 2 links, has 1", seal(lsaBody(tileA, 2, 1)), ErrShort},
		{"LSA says 1 link, has 2", seal(lsaBody(tileA, 1, 1, 2)), ErrShort},
		{"LSA duplicate direction", seal(lsaBody(tileA, 2, 2, 2)), ErrField},
		{"LSA direction NT", seal(lsaBody(tileA, 1, 0)), ErrField},
		{"LSA direction ST", seal(lsaBody(tileA, 1, 4)), ErrField},
		{"LSA direction 8", seal(lsaBody(tileA, 1, 8)), ErrField},
		{"LSA direction 255", seal(lsaBody(tileA, 1, 255)), ErrField},
		{"LSA zero origin", seal(lsaBody(p2p.TileID{}, 0)), ErrField},
		{"LSA zero neighbour", seal(zeroNeighbour), ErrField},
		{"ACK without count", seal([]byte{msgAck}), ErrShort},
		{"ACK of 0", seal(ackBody(0, 0)), ErrField},
		{"ACK of 17", seal(ackBody(17, 17)), ErrField},
		{"ACK says 2, has 1", seal(ackBody(2, 1)), ErrShort},
		{"ACK says 1, has 2", seal(ackBody(1, 2)), ErrShort},
		{"ACK entry cut", seal(ackBody(1, 1)[:13]), ErrShort},
	}
	for _, tc := range tests {
		_, err := ParseMessage(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestParseMessageAccepts(t *testing.T) {
	full := LSA{Origin: tileA, Seq: 0xfffffff0, N: MaxLinks}
	for i, d := range packet.Links {
		full.Links[i] = Link{Dir: d, Tile: p2p.TileID{0x40, byte(d)}}
	}
	full.Links[0], full.Links[5] = full.Links[5], full.Links[0] // any order
	acks := make([]Ack, maxAcks)
	for i := range acks {
		acks[i] = Ack{Origin: p2p.TileID{byte(i + 1)}, Seq: uint32(i)}
	}
	for _, l := range []LSA{full, {Origin: tileB, Seq: 0}} {
		m, err := ParseMessage(AppendLSA(nil, &l))
		if err != nil || m.Type != msgLSA || m.LSA != l {
			t.Errorf("LSA %+v came back as %+v, %v", l, m.LSA, err)
		}
	}
	for _, n := range []int{1, maxAcks} {
		m, err := ParseMessage(AppendAck(nil, acks[:n]))
		if err != nil || m.Type != msgAck || m.N != n || !equalAcks(m.Acks[:m.N], acks[:n]) {
			t.Errorf("%d acks came back as %+v, %v", n, m, err)
		}
	}
}

func equalAcks(a, b []Ack) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzParseMessage: any bytes parse without panic, and what parses
// encodes back to the same bytes.
func FuzzParseMessage(f *testing.F) {
	l := LSA{Origin: tileA, Seq: 5, N: 2, Links: [MaxLinks]Link{{packet.ET, tileB}, {packet.SW, tileC}}}
	f.Add(AppendLSA(nil, &l))
	f.Add(AppendLSA(nil, &LSA{Origin: tileC}))
	f.Add(AppendAck(nil, []Ack{{tileA, 1}, {tileB, 2}}))
	f.Add(seal(lsaBody(tileA, 2, 2, 2)))
	f.Add(seal(ackBody(17, 17)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := ParseMessage(p)
		if err != nil {
			return
		}
		var again []byte
		switch m.Type {
		case msgLSA:
			if m.LSA.N > MaxLinks {
				t.Fatalf("parsed %d links", m.LSA.N)
			}
			again = AppendLSA(nil, &m.LSA)
		case msgAck:
			if m.N < 1 || m.N > maxAcks {
				t.Fatalf("parsed %d acks", m.N)
			}
			again = AppendAck(nil, m.Acks[:m.N])
		default:
			t.Fatalf("parsed type %#x", m.Type)
		}
		if !bytes.Equal(again, p) {
			t.Fatalf("%x parsed as %+v, encodes as %x", p, m, again)
		}
	})
}

// TestLSASignature: a signed LSA verifies; one changed in any field, or
// naming another origin than its key gives, does not.
func TestLSASignature(t *testing.T) {
	l := LSA{Seq: 5, N: 1}
	l.Links[0] = Link{Dir: packet.ET, Tile: tileB}
	l.Sign(keyOf(7))
	if l.Origin != id(7) {
		t.Fatalf("signed as %v, want %v", l.Origin, id(7))
	}
	m, err := ParseMessage(AppendLSA(nil, &l))
	if err != nil || m.LSA != l || m.LSA.Verify() != nil {
		t.Fatalf("round trip: %v, verify %v", err, m.LSA.Verify())
	}
	for name, change := range map[string]func(*LSA){
		"seq":       func(c *LSA) { c.Seq++ },
		"link":      func(c *LSA) { c.Links[0].Dir = packet.WT },
		"neighbour": func(c *LSA) { c.Links[0].Tile = tileC },
		"links":     func(c *LSA) { c.N = 0 },
		"origin":    func(c *LSA) { c.Origin = id(8) },
		"signature": func(c *LSA) { c.Sig[3] ^= 1 },
		"key":       func(c *LSA) { copy(c.Pub[:], keyOf(8).Public().(ed25519.PublicKey)) },
	} {
		c := l
		change(&c)
		if err := c.Verify(); !errors.Is(err, ErrSignature) {
			t.Errorf("%s changed: %v, want ErrSignature", name, err)
		}
	}
	// Signed by tile 8 but claiming to be tile 7: the key gives 8.
	f := LSA{Seq: 9}
	f.Sign(keyOf(8))
	f.Origin = id(7)
	if err := f.Verify(); !errors.Is(err, ErrSignature) {
		t.Errorf("another's key: %v", err)
	}
}

// BenchmarkLSAVerify: checking one full LSA's signature, the work each
// LSA that is news costs a tile.
func BenchmarkLSAVerify(b *testing.B) {
	l := LSA{Seq: 1, N: MaxLinks}
	for i := range l.Links {
		l.Links[i] = Link{Dir: packet.Links[i], Tile: tileB}
	}
	l.Sign(keyOf(3))
	for b.Loop() {
		if err := l.Verify(); err != nil {
			b.Fatal(err)
		}
	}
}
