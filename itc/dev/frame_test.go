package dev

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The examples of notes/protocol.md, "UDP link frames".
func TestFrameProtocolExamples(t *testing.T) {
	f, err := ParseFrame(unhex(t, "56 01 02 1a 2b 3c 4d 00 05 82 02 68 69"))
	want := Frame{Type: FramePacket, Dir: packet.ET, Epoch: 0x1A2B3C4D, Seq: 5, Packet: []byte{0x82, 0x02, 'h', 'i'}}
	if err != nil || f.Type != want.Type || f.Dir != want.Dir || f.Epoch != want.Epoch || f.Seq != want.Seq || !bytes.Equal(f.Packet, want.Packet) {
		t.Fatalf("packet example: %+v, %v", f, err)
	}
	f, err = ParseFrame(unhex(t, "56 02 02 1a 2b 3c 4d e3 b0 c4 42 98 fc 1c 14"))
	if err != nil || f.Type != FrameKeepalive || f.Dir != packet.ET || f.Epoch != 0x1A2B3C4D || f.Packet != nil || f.MFZ != DigestMFZID(nil) {
		t.Fatalf("keepalive example: %+v, %v", f, err)
	}
	f, err = ParseFrame(unhex(t, "56 02 02 1a 2b 3c 4d 55 9a ea d0 82 64 d5 79"))
	if err != nil || f.MFZ != DigestMFZID([]byte("A")) {
		t.Fatalf("keepalive example with identity A: %+v, %v", f, err)
	}
	b, err := AppendFrame([]byte{0xee}, want)
	if err != nil || !bytes.Equal(b, unhex(t, "ee 56 01 02 1a 2b 3c 4d 00 05 82 02 68 69")) {
		t.Fatalf("AppendFrame = % x, %v", b, err)
	}
}

// Each fault of a datagram, with the error ParseFrame names it by.
func TestParseFrameErrors(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		want error
	}{
		{"", ErrFrameShort},
		{"41 01 02 1a 2b 3c 4d 00 05 82 02", ErrFrameMagic},
		{"54 01 02 82 02 68 69", ErrFrameVersion},             // version 1
		{"55 02 02 1a 2b 3c 4d", ErrFrameVersion},             // version 2 keepalive (no identity)
		{"55 01 02 1a 2b 3c 4d 00 05 82 02", ErrFrameVersion}, // version 2 packet
		{"57 01 02 1a 2b 3c 4d 00 05 82 02", ErrFrameVersion}, // version 4
		{"5f", ErrFrameVersion},
		{"56", ErrFrameShort},
		{"56 02 02 1a 2b 3c", ErrFrameShort},
		{"56 02 02 1a 2b 3c 4d", ErrKeepaliveLen},                      // no identity digest
		{"56 02 02 1a 2b 3c 4d e3 b0 c4 42 98 fc 1c", ErrKeepaliveLen}, // digest cut short
		{"56 02 02 1a 2b 3c 4d e3 b0 c4 42 98 fc 1c 14 00", ErrKeepaliveLen},
		{"56 01 02 1a 2b 3c 4d 00 05", ErrFrameNoPacket},
		{"56 01 02 1a 2b 3c 4d 00", ErrFrameNoPacket},
		{"56 01 02 1a 2b 3c 4d 00 05" + strings.Repeat("82", 256), ErrFrameTooLong},
		{"56 03 02 1a 2b 3c 4d 00 05 82 02", ErrFrameType},
		{"56 00 02 1a 2b 3c 4d", ErrFrameType},
		{"56 02 02 00 00 00 00 e3 b0 c4 42 98 fc 1c 14", ErrFrameEpoch},
		{"56 01 02 00 00 00 00 00 05 82 02", ErrFrameEpoch},
	} {
		f, err := ParseFrame(unhex(t, tc.hex))
		if !errors.Is(err, tc.want) || f.Type != 0 || f.Packet != nil {
			t.Errorf("ParseFrame(%s) = %+v, %v; want %v", tc.hex, f, err, tc.want)
		}
	}
	// The frame layer carries any bytes: a malformed packet, or a
	// direction that is no link, is the receiver's business.
	for _, h := range []string{"56 01 02 1a 2b 3c 4d 00 05 c0", "56 01 09 1a 2b 3c 4d ff ff 82 00", "56 02 ff 00 00 00 01 00 00 00 00 00 00 00 00"} {
		if _, err := ParseFrame(unhex(t, h)); err != nil {
			t.Errorf("ParseFrame(%s): %v", h, err)
		}
	}
}

func TestAppendFrameRefuses(t *testing.T) {
	for _, tc := range []struct {
		f    Frame
		want error
	}{
		{Frame{Type: 0, Epoch: 1}, ErrFrameType},
		{Frame{Type: 3, Epoch: 1, Packet: []byte{0x82, 2}}, ErrFrameType},
		{Frame{Type: FramePacket, Epoch: 1}, ErrFrameNoPacket},
		{Frame{Type: FramePacket, Epoch: 1, Packet: make([]byte, 256)}, ErrFrameTooLong},
		{Frame{Type: FramePacket, Epoch: 0, Packet: []byte{0x82, 2}}, ErrFrameEpoch},
		{Frame{Type: FrameKeepalive, Epoch: 0}, ErrFrameEpoch},
	} {
		dst := []byte{1, 2}
		out, err := AppendFrame(dst, tc.f)
		if !errors.Is(err, tc.want) || !bytes.Equal(out, []byte{1, 2}) {
			t.Errorf("AppendFrame(%+v) = % x, %v; want %v and dst unchanged", tc.f, out, err, tc.want)
		}
	}
}

// FuzzParseFrame checks that ParseFrame never panics nor modifies its
// input, that every error is a *FrameError, that what parses is within
// the format's bounds, and that AppendFrame gives back exactly the bytes
// parsed: every bit of a frame lands in some field of Frame.
func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{
		"56 01 02 1a 2b 3c 4d 00 05 82 02 68 69",                 // the packet example of notes/protocol.md
		"56 02 02 1a 2b 3c 4d e3 b0 c4 42 98 fc 1c 14",           // the keepalive example: the empty identity
		"56 02 02 1a 2b 3c 4d 55 9a ea d0 82 64 d5 79",           // identity "A"
		"56 01 06 00 00 00 01 ff ff a6 01 02",                    // MFM packet, sequence about to wrap
		"56 01 02 00 00 00 01 00 00 c0",                          // a malformed packet still frames
		"56 01 09 ff ff ff ff 00 00 82 01",                       // direction 9: the receiver counts it misrouted
		"",                                                       // empty datagram
		"56",                                                     // magic alone
		"54 01 02 82 02 68 69",                                   // framing version 1
		"55 02 02 1a 2b 3c 4d",                                   // framing version 2 keepalive
		"55 01 02 1a 2b 3c 4d 00 05 82 02",                       // framing version 2 packet
		"57 01 02 1a 2b 3c 4d 00 05 82 02",                       // framing version 4
		"41 01 02 1a 2b 3c 4d 00 05 82 02",                       // not a frame at all
		"56 02 02 1a 2b 3c 4d",                                   // keepalive without its digest
		"56 02 02 1a 2b 3c 4d e3 b0 c4 42 98 fc 1c 14 00",        // keepalive with a tail
		"56 01 02 1a 2b 3c 4d 00 05",                             // packet frame without a packet
		"56 03 02 1a 2b 3c 4d 00 05 82 02",                       // unknown type
		"56 02 02 00 00 00 00 e3 b0 c4 42 98 fc 1c 14",           // epoch 0
		"56 01 02 00 00 00 00 00 05 82 02",                       // epoch 0, packet
		"56 01 02 1a 2b 3c 4d 00 05" + strings.Repeat("82", 255), // the longest frame
		"56 01 02 1a 2b 3c 4d 00 05" + strings.Repeat("82", 256), // one byte too long
	} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		fr, err := ParseFrame(b)
		if !bytes.Equal(in, b) {
			t.Fatal("ParseFrame modified its input")
		}
		if err != nil {
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseFrame(% x): error %T %v is not a *FrameError", b, err, err)
			}
			return
		}
		switch {
		case fr.Epoch == 0:
			t.Fatalf("ParseFrame(% x): epoch 0", b)
		case fr.Type == FrameKeepalive && (len(b) != KeepaliveFrameLen || fr.Packet != nil || fr.Seq != 0):
			t.Fatalf("ParseFrame(% x): keepalive %+v", b, fr)
		case fr.Type == FramePacket && fr.MFZ != (MFZDigest{}):
			t.Fatalf("ParseFrame(% x): keepalive %+v", b, fr)
		case fr.Type == FramePacket && (len(fr.Packet) < 1 || len(fr.Packet) > packet.MaxLen):
			t.Fatalf("ParseFrame(% x): %d packet bytes", b, len(fr.Packet))
		case fr.Type != FrameKeepalive && fr.Type != FramePacket:
			t.Fatalf("ParseFrame(% x): type %d", b, fr.Type)
		}
		out, err := AppendFrame(nil, fr)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("AppendFrame(ParseFrame(% x)) = % x, %v", b, out, err)
		}
	})
}

// FuzzAppendFrame builds a frame from fuzzed fields: whenever AppendFrame
// takes it, ParseFrame gives the same frame back (a keepalive's sequence
// and packet, and a packet frame's identity digest, are not sent and come
// back zero); whenever it refuses, the error is a *FrameError and dst
// comes back unchanged.
func FuzzAppendFrame(f *testing.F) {
	a := DigestMFZID([]byte("A"))
	f.Add(byte(FramePacket), byte(packet.ET), uint32(0x1A2B3C4D), uint16(5), []byte{0x82, 0x02, 'h', 'i'}, uint64(0))     // valid packet frame
	f.Add(byte(FrameKeepalive), byte(packet.ET), uint32(0x1A2B3C4D), uint16(9), []byte{1}, binary.BigEndian.Uint64(a[:])) // keepalive: seq and packet dropped
	f.Add(byte(FramePacket), byte(packet.ET), uint32(1), uint16(0), []byte{0x82, 2}, uint64(7))                           // packet: digest dropped
	f.Add(byte(FramePacket), byte(packet.NW), uint32(1), uint16(0xffff), bytes.Repeat([]byte{0xa7}, 255), uint64(0))      // longest
	f.Add(byte(FramePacket), byte(packet.ET), uint32(1), uint16(0), bytes.Repeat([]byte{0xa7}, 256), uint64(0))           // too long
	f.Add(byte(FramePacket), byte(packet.ET), uint32(1), uint16(0), []byte{}, uint64(0))                                  // no packet
	f.Add(byte(FramePacket), byte(packet.ET), uint32(0), uint16(0), []byte{0x82, 2}, uint64(0))                           // epoch 0
	f.Add(byte(7), byte(packet.ET), uint32(1), uint16(0), []byte{0x82, 2}, uint64(0))                                     // unknown type
	f.Fuzz(func(t *testing.T, typ, dir byte, epoch uint32, seq uint16, p []byte, mfz uint64) {
		fr := Frame{Type: typ, Dir: packet.Dir(dir), Epoch: epoch, Seq: seq, Packet: p}
		binary.BigEndian.PutUint64(fr.MFZ[:], mfz)
		buf := bytes.Repeat([]byte{0xee}, 3+MaxFrameLen+1)
		dst := buf[:3:len(buf)]
		out, err := AppendFrame(dst, fr)
		if err != nil {
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("AppendFrame error %T %v is not a *FrameError", err, err)
			}
			if len(out) != 3 || !bytes.Equal(buf, bytes.Repeat([]byte{0xee}, len(buf))) {
				t.Fatalf("AppendFrame failed (%v) but changed dst", err)
			}
			return
		}
		if len(out) > 3+MaxFrameLen || &out[0] != &buf[0] {
			t.Fatalf("AppendFrame wrote %d bytes", len(out)-3)
		}
		got, err := ParseFrame(out[3:])
		if err != nil {
			t.Fatalf("ParseFrame(AppendFrame(%+v) = % x): %v", fr, out[3:], err)
		}
		want := fr
		if typ == FrameKeepalive {
			want.Seq, want.Packet = 0, nil
		} else {
			want.MFZ = MFZDigest{}
		}
		if got.Type != want.Type || got.Dir != want.Dir || got.Epoch != want.Epoch || got.Seq != want.Seq || !bytes.Equal(got.Packet, want.Packet) || got.MFZ != want.MFZ {
			t.Fatalf("ParseFrame(AppendFrame(%+v)) = %+v", fr, got)
		}
	})
}

// TestFrameBytesPinned pins the bytes of a few frames as the device puts
// them on the wire today, both ways it builds them: AppendFrame (the
// keepalives) and a link's prebuilt header with its sequence number
// written in (the packets, udpLink.send). ParseFrame reads each back.
func TestFrameBytesPinned(t *testing.T) {
	long := bytes.Repeat([]byte{0xa7}, packet.MaxLen)
	for _, tc := range []struct {
		f   Frame
		hex string
	}{
		{Frame{Type: FrameKeepalive, Dir: packet.ET, Epoch: 0x1A2B3C4D, MFZ: DigestMFZID(nil)}, "56 02 02 1a 2b 3c 4d e3 b0 c4 42 98 fc 1c 14"},
		{Frame{Type: FrameKeepalive, Dir: packet.NW, Epoch: 0xFFFFFFFF, MFZ: DigestMFZID([]byte("A"))}, "56 02 07 ff ff ff ff 55 9a ea d0 82 64 d5 79"},
		{Frame{Type: FrameKeepalive, Dir: packet.SE, Epoch: 2, MFZ: DigestMFZID([]byte("B"))}, "56 02 03 00 00 00 02 df 7e 70 e5 02 15 44 f4"},
		{Frame{Type: FramePacket, Dir: packet.ET, Epoch: 0x1A2B3C4D, Seq: 5, Packet: []byte{0x82, 0x02, 'h', 'i'}},
			"56 01 02 1a 2b 3c 4d 00 05 82 02 68 69"},
		{Frame{Type: FramePacket, Dir: packet.NE, Epoch: 1, Seq: 0, Packet: []byte{0xa1, 0x10}}, "56 01 01 00 00 00 01 00 00 a1 10"},
		{Frame{Type: FramePacket, Dir: packet.SW, Epoch: 0x80000000, Seq: 0xFFFF, Packet: []byte{0x84, 0xfe, 0x00}},
			"56 01 05 80 00 00 00 ff ff 84 fe 00"},
		{Frame{Type: FramePacket, Dir: packet.WT, Epoch: 0x01020304, Seq: 0x1234, Packet: long},
			"56 01 06 01 02 03 04 12 34" + strings.Repeat("a7", packet.MaxLen)},
	} {
		want := unhex(t, tc.hex)
		got, err := AppendFrame(nil, tc.f)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("AppendFrame(%+v) = % x, %v; want % x", tc.f, got, err, want)
		}
		if tc.f.Type == FramePacket {
			l := newUDPLink(tc.f.Dir, netip.AddrPort{}, DefaultUDPConfig(), tc.f.Epoch)
			n := copy(l.frame[FrameHeaderLen:], tc.f.Packet)
			putFrameSeq(l.frame[:], tc.f.Seq)
			if g := l.frame[:FrameHeaderLen+n]; !bytes.Equal(g, want) {
				t.Errorf("link frame for %+v = % x; want % x", tc.f, g, want)
			}
		}
		f, err := ParseFrame(want)
		if err != nil || f.Type != tc.f.Type || f.Dir != tc.f.Dir || f.Epoch != tc.f.Epoch || f.Seq != tc.f.Seq || !bytes.Equal(f.Packet, tc.f.Packet) || f.MFZ != tc.f.MFZ {
			t.Errorf("ParseFrame(% x) = %+v, %v; want %+v", want, f, err, tc.f)
		}
	}
}
