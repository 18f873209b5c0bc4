package daemon

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/crc32c"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

func TestCheckServiceWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"to ET", []byte{0x82, 9, 'h', 'i'}, nil},
		{"empty message", nil, packet.ErrEmpty},
		{"to NT", []byte{0x80, 9}, packet.ErrNoLink},
		{"another number", []byte{0x82, 8}, ErrOtherService},
		{"MFM", []byte{0xA2, 1}, ErrNotService},
		{"TEP", []byte{0xC4, 1, 2}, ErrNotService},
		{"too long", append([]byte{0x82, 9}, make([]byte, 254)...), packet.ErrTooLong},
	} {
		p, err := checkServiceWrite(tc.b, 9)
		if !errors.Is(err, tc.want) || err == nil && (p.Service != 9 || p.Dir != packet.ET) {
			t.Errorf("%s: checkServiceWrite(% x) = %+v, %v; want %v", tc.name, tc.b, p, err, tc.want)
		}
	}
}

func TestCheckMFMWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"to ET", []byte{0xA2, 1, 2}, nil},
		{"empty message", nil, packet.ErrEmpty},
		{"to ST", []byte{0xA4, 1}, packet.ErrNoLink},
		{"service packet", []byte{0x82, 2}, ErrNotMFM},
		{"debug packet", []byte{0xC1, 2}, ErrNotMFM},
	} {
		p, err := checkMFMWrite(tc.b)
		if !errors.Is(err, tc.want) || err == nil && p.Dir != packet.ET {
			t.Errorf("%s: checkMFMWrite(% x) = %+v, %v; want %v", tc.name, tc.b, p, err, tc.want)
		}
	}
}

func TestParseControlRequest(t *testing.T) {
	for _, tc := range []struct {
		line string
		cmd  string
		want error
	}{
		{`{"cmd":"status"}`, "status", nil},
		{`{"cmd":"link","args":{"dir":"ET"},"later":1}`, "link", nil},
		{`{}`, "", ErrRequestNoCmd},
		{`null`, "", ErrRequestNoCmd},
		{`[1]`, "", ErrRequestNotJSON},
		{`{"cmd":"status"`, "", ErrRequestNotJSON},
		{`{"cmd":"status"} {}`, "", ErrRequestNotJSON},
		{`{"cmd":"` + strings.Repeat("a", control.MaxRequest) + `"}`, "", ErrRequestTooLong},
	} {
		req, err := parseControlRequest([]byte(tc.line))
		if !errors.Is(err, tc.want) || req.Cmd != tc.cmd {
			t.Errorf("parseControlRequest(%.40q) = %+v, %v; want %q, %v", tc.line, req, err, tc.cmd, tc.want)
		}
	}
}

// Bytes on the wire, as notes/protocol.md draws them; an all-zero tile
// is refused.
func TestHelloBytes(t *testing.T) {
	h := Hello{Version: 1, Tile: p2p.TileID{1, 2, 3, 4, 5, 6, 7, 8}, Uptime: 9, Services: 1<<1 | 1<<8, TS: 77, EchoTS: 5, EchoHold: 3}
	b := AppendHello([]byte{0xee}, h)
	want := []byte{0xee, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 77, 0, 0, 0, 5, 0, 0, 0, 3}
	if !bytes.Equal(b, want) || len(b) != 1+HelloLen {
		t.Fatalf("AppendHello = % x, want % x", b, want)
	}
	if got, ok := ParseHello(b[1:]); !ok || got != h {
		t.Fatalf("ParseHello = %+v, %v", got, ok)
	}
	h.Tile = p2p.TileID{}
	if _, ok := ParseHello(AppendHello(nil, h)); ok {
		t.Fatal("ParseHello took an all-zero tile")
	}
}

// The version field after the digest (notes/protocol.md): its bytes, the
// flag that says bytes 34..37 are no digest, and what status shows of
// hellos without it, with a bad length or unprintable bytes.
func TestHelloBuild(t *testing.T) {
	base := Hello{Version: 2, Tile: p2p.TileID{1, 2, 3, 4, 5, 6, 7, 8}, TS: 1}
	head := AppendHello(nil, base)
	ext := func(tail ...byte) []byte { return append(append([]byte{}, head...), tail...) }
	withDigest, noDigest, old := base, base, base
	withDigest.MFZDigest, withDigest.HasMFZDigest, withDigest.Build, withDigest.HasBuild = [4]byte{9, 8, 7, 6}, true, "v1", true
	noDigest.Build, noDigest.HasBuild = "v1", true
	old.MFZDigest, old.HasMFZDigest = [4]byte{9, 8, 7, 6}, true
	sealed := noDigest
	sealed.Sealed = true
	sealCRC := binary.BigEndian.AppendUint32(nil, crc32.Checksum(ext(0, 0, 0, 0, 3, 2, 'v', '1'), crc32.MakeTable(crc32.Castagnoli)))
	tests := []struct {
		name  string
		h     Hello  // encoded, unless raw is set
		raw   []byte // bytes to parse instead
		want  []byte // the bytes after byte 33 AppendHello writes (nil: not checked)
		got   Hello  // what ParseHello reads
		label string // BuildLabel of it
	}{
		{name: "digest and version", h: withDigest, want: []byte{9, 8, 7, 6, 0, 2, 'v', '1'}, got: withDigest, label: "v1"},
		{name: "version without a digest", h: noDigest, want: []byte{0, 0, 0, 0, 1, 2, 'v', '1'}, got: noDigest, label: "v1"},
		{name: "a daemon before the field", h: old, want: []byte{9, 8, 7, 6}, got: old, label: BuildUnknown},
		{name: "no digest, no version", h: base, want: []byte{}, got: base, label: BuildUnknown},
		{name: "reserved flags ignored", raw: ext(9, 8, 7, 6, 0xfc, 2, 'v', '1'), got: withDigest, label: "v1"},
		{name: "sealed", h: sealed, want: append([]byte{0, 0, 0, 0, 3, 2, 'v', '1'}, sealCRC...), got: sealed, label: "v1"},
		{name: "sealed, length into the seal", raw: crc32c.Seal(ext(0, 0, 0, 0, 3, 4, 'v', '1'), 0), got: Hello{Version: 2, Tile: base.Tile, TS: 1, HasBuild: true, Sealed: true}, label: BuildInvalid},
		{name: "no-digest flag zeroes the digest", raw: ext(9, 8, 7, 6, 1, 2, 'v', '1'), got: noDigest, label: "v1"},
		{name: "length past the packet", raw: ext(9, 8, 7, 6, 0, 3, 'v', '1'), got: Hello{Version: 2, Tile: base.Tile, TS: 1, MFZDigest: [4]byte{9, 8, 7, 6}, HasMFZDigest: true, HasBuild: true}, label: BuildInvalid},
		{name: "length past the bound", raw: ext(append([]byte{9, 8, 7, 6, 0, 33}, bytes.Repeat([]byte{'v'}, 33)...)...), got: Hello{Version: 2, Tile: base.Tile, TS: 1, MFZDigest: [4]byte{9, 8, 7, 6}, HasMFZDigest: true, HasBuild: true}, label: BuildInvalid},
		{name: "unprintable", raw: ext(9, 8, 7, 6, 0, 2, 'v', '\n'), got: Hello{Version: 2, Tile: base.Tile, TS: 1, MFZDigest: [4]byte{9, 8, 7, 6}, HasMFZDigest: true, Build: "v\n", HasBuild: true}, label: BuildInvalid},
		{name: "empty version", raw: ext(9, 8, 7, 6, 0, 0), got: Hello{Version: 2, Tile: base.Tile, TS: 1, MFZDigest: [4]byte{9, 8, 7, 6}, HasMFZDigest: true, HasBuild: true}, label: BuildInvalid},
		{name: "a tail after the version", raw: ext(9, 8, 7, 6, 0, 2, 'v', '1', 0xff), got: withDigest, label: "v1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.raw
			if b == nil {
				b = AppendHello(nil, tc.h)
				if !bytes.Equal(b[HelloLen:], tc.want) {
					t.Fatalf("AppendHello tail = % x, want % x", b[HelloLen:], tc.want)
				}
			}
			got, ok := ParseHello(b)
			if !ok || got != tc.got {
				t.Fatalf("ParseHello = %+v, %v; want %+v", got, ok, tc.got)
			}
			if l := BuildLabel(got.Build, got.HasBuild); l != tc.label {
				t.Fatalf("BuildLabel = %q, want %q", l, tc.label)
			}
		})
	}
}

// A sealed hello damaged on the link never parses as a sealed one that
// says something else: 1 to 3 flipped bits, as the simulated links flip
// them, either fail the CRC or clear the seal flag itself (which the link
// model refuses from a tile whose hellos are sealed).
func TestHelloSealCatchesFlippedBits(t *testing.T) {
	h := Hello{Version: ProtocolVersion, Tile: p2p.TileID{1, 2, 3, 4, 5, 6, 7, 8}, Uptime: 1, Services: 1<<1 | 1<<9, TS: 998, EchoTS: 990, EchoHold: 3, Build: "v0.9-42-gdeadbee", HasBuild: true, Sealed: true}
	for _, digest := range []bool{false, true} {
		if h.HasMFZDigest = digest; digest {
			h.MFZDigest = [4]byte{9, 8, 7, 6}
		}
		clean := AppendHello(nil, h)
		if got, ok := ParseHello(clean); !ok || got != h {
			t.Fatalf("ParseHello(sealed) = %+v, %v; want %+v", got, ok, h)
		}
		rng := rand.New(rand.NewSource(1))
		bits := len(clean) * 8
		for trial := range 20000 {
			b := append([]byte(nil), clean...)
			flips := map[int]bool{}
			for len(flips) < 1+trial%3 {
				flips[rng.Intn(bits)] = true
			}
			for pos := range flips {
				b[pos/8] ^= 1 << (pos % 8)
			}
			if got, ok := ParseHello(b); ok && got.Sealed {
				t.Fatalf("bits %v flipped: parses as sealed %+v", flips, got)
			}
		}
	}
}
