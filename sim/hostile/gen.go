package hostile

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/mfz/dist"
)

// Garbage makes random datagrams: a third random bytes (0..maxLen), a
// third starting with the frame magic (so they fail later checks), a
// third valid frames around random packet bytes (so they reach the
// packet decoder). maxLen is capped at dev.MaxFrameLen+16.
func Garbage(maxLen int) Gen {
	maxLen = max(1, min(maxLen, dev.MaxFrameLen+16))
	return func(n *Neighbour, r *rand.Rand, buf []byte) ([]byte, bool) {
		switch r.IntN(3) {
		case 0:
			return randBytes(r, buf, r.IntN(maxLen+1)), true
		case 1:
			return randBytes(r, append(buf, dev.FrameMagic), r.IntN(maxLen)), true
		}
		return randBytes(r, buf, 1+r.IntN(min(maxLen, packet.MaxLen))), false
	}
}

// Absurd makes valid frames carrying packets that decode but say absurd
// things, to every part of a tile: service 8 messages with absurd fields
// (CRC sealed), counter messages of every length and type, hellos a
// daemon refuses, packets to services nobody runs, MFM traffic nobody
// reads, and packets marked suspect (OVRN, EROR).
func Absurd() Gen {
	dists := AbsurdDist()
	return func(n *Neighbour, r *rand.Rand, buf []byte) ([]byte, bool) {
		switch k := r.IntN(20); {
		case k < 8:
			return dists(n, r, buf)
		case k < 12:
			var p [12]byte
			p[0] = []byte{0, 1, 2, 3, 0xff}[r.IntN(5)]
			return service(buf, n.Dir(), packet.ServiceCounter, randBytes(r, p[:1], r.IntN(12))), false
		case k < 14:
			return service(buf, n.Dir(), packet.ServiceLiveness, badHello(r)), false
		case k < 17:
			var p [packet.MaxServicePayload]byte
			s := packet.Service(3 + r.IntN(int(packet.MaxService)-2))
			if s == packet.ServiceMFZ {
				s++
			}
			return service(buf, n.Dir(), s, randBytes(r, p[:0], r.IntN(len(p)+1))), false
		case k < 19:
			return randBytes(r, append(buf, packet.BitSTND|packet.BitMFMT|byte(n.Dir())), r.IntN(packet.MaxLen)), false
		default:
			// A service packet the link layer marked damaged: counted
			// suspect and dropped before any service sees it.
			b, _ := dists(n, r, buf)
			b[len(buf)] |= []byte{packet.BitOVRN, packet.BitEROR}[r.IntN(2)]
			return b, false
		}
	}
}

// AbsurdDist makes service 8 packets from RandomDist: nine in ten CRC
// sealed (they reach the parser), one in ten with a byte damaged after
// sealing (a CRC error).
func AbsurdDist() Gen {
	return func(n *Neighbour, r *rand.Rand, buf []byte) ([]byte, bool) {
		m := RandomDist(r)
		var p [2 * packet.MaxLen]byte
		b := dist.AppendMessage(p[:0], &m)
		if len(b) > packet.MaxServicePayload {
			b = b[:packet.MaxServicePayload] // the CRC no longer matches: as absurd
		}
		if r.IntN(10) == 0 {
			b[r.IntN(len(b))] ^= byte(1 + r.IntN(255))
		}
		return service(buf, n.Dir(), packet.ServiceMFZ, b), false
	}
}

// ForgedHellos makes hellos that a daemon takes, each with a new random
// identity, version, uptime, services and clock.
func ForgedHellos() Gen {
	return func(n *Neighbour, r *rand.Rand, buf []byte) ([]byte, bool) {
		h := daemon.Hello{
			Version:  uint8(1 + r.IntN(255)),
			Uptime:   r.Uint32(),
			Services: r.Uint64(),
			TS:       r.Uint32() | 1,
		}
		for h.Tile.IsZero() {
			h.Tile = p2p.TileID(randID(r))
		}
		var p [daemon.HelloLen]byte
		return service(buf, n.Dir(), packet.ServiceLiveness, daemon.AppendHello(p[:0], h)), false
	}
}

// Mix makes each datagram from one of gens, chosen at random.
func Mix(gens ...Gen) Gen {
	return func(n *Neighbour, r *rand.Rand, buf []byte) ([]byte, bool) {
		return gens[r.IntN(len(gens))](n, r, buf)
	}
}

// service appends a service packet; the payload is at most 253 bytes.
func service(buf []byte, d packet.Dir, s packet.Service, payload []byte) []byte {
	b, err := packet.AppendService(buf, d, s, payload)
	if err != nil {
		panic("hostile: " + err.Error()) // the gens above never make one
	}
	return b
}

func randBytes(r *rand.Rand, b []byte, n int) []byte {
	for range n {
		b = append(b, byte(r.Uint32()))
	}
	return b
}

func randID(r *rand.Rand) (id [8]byte) {
	for i := range id {
		id[i] = byte(r.Uint32())
	}
	return id
}

// badHello is a liveness payload a daemon refuses or ignores: short, of
// another type, version 0, or from the all-zero tile.
func badHello(r *rand.Rand) []byte {
	h := daemon.AppendHello(nil, daemon.Hello{Version: 1, Tile: p2p.TileID(randID(r)), TS: 1})
	switch r.IntN(4) {
	case 0:
		return h[:r.IntN(daemon.HelloLen)]
	case 1:
		h[0] = byte(2 + r.IntN(254))
	case 2:
		h[1] = 0
	default:
		clear(h[2:10])
	}
	return h
}

// Values at and past the limits of service 8's fields.
var (
	absurd16 = []uint16{0, 1, 7, 8, 9, 33, 34, 4095, 4096, 4097, 0x7fff, 0xfffe, 0xffff}
	absurd32 = []uint32{0, 1, 240, 241, 4095, 1 << 16, 1<<20 - 1, 1 << 20, 1 << 24, 0x7fffffff, 0xffffffff}
	absurd64 = []int64{0, 1, -1, math.MaxInt64, math.MinInt64, 1 << 62}
	names    = []string{"x.mfz", "physics.mfz", strings.Repeat("n", 28), strings.Repeat("n", 29),
		"", ".", "..", "../etc/passwd", "a/b", "nul\x00.mfz", "sp ace", strings.Repeat("z", 200)}
)

// RandomDist returns a service 8 message of a random type (mostly 1..9,
// sometimes undefined) whose fields are drawn from values at and past
// their limits, or at random.
func RandomDist(r *rand.Rand) dist.Message {
	pick16 := func() uint16 {
		if r.IntN(4) == 0 {
			return uint16(r.Uint32())
		}
		return absurd16[r.IntN(len(absurd16))]
	}
	pick32 := func() uint32 {
		if r.IntN(4) == 0 {
			return r.Uint32()
		}
		return absurd32[r.IntN(len(absurd32))]
	}
	m := dist.Message{
		Type:    byte(1 + r.IntN(dist.MsgRequests)),
		Handle:  []uint8{0, 1, 2, 127, 254, 255, uint8(r.Uint32())}[r.IntN(7)],
		Flags:   byte(r.Uint32()),
		Version: absurd64[r.IntN(len(absurd64))],
		Blocks:  pick16(),
		Held:    pick16(),
		ID:      randID(r),
		Name:    names[r.IntN(len(names))],
		Offset:  pick32(),
		Total:   pick32(),
		Block:   pick16(),
		Chunk:   pick16(),
		Count:   pick16(),
		Seq:     pick16(),
	}
	if r.IntN(8) == 0 {
		m.Type = []byte{0, 11, 12, 0x7f, 0xff}[r.IntN(5)]
	}
	if r.IntN(2) == 0 {
		m.Version = int64(r.Uint64())
	}
	var data [packet.MaxServicePayload]byte
	m.Data = randBytes(r, data[:0], []int{0, 1, 2, 3, 7, 14, 28, 35, 122, 241, 245, 246, 247, 248}[r.IntN(14)])
	return m
}

// AbsurdDistMessages lists service 8 messages that take every field of
// every type to and past its limits. handle is used where a message
// names a handle of the daemon's (GET_MANIFEST, REQUEST: learn one from
// its ANNOUNCE) besides 0, 254 and 255; elsewhere the handles are the
// sender's own.
func AbsurdDistMessages(handle uint8) []dist.Message {
	var ms []dist.Message
	add := func(m dist.Message) { ms = append(ms, m) }
	handles := []uint8{0, handle, 254, 255}
	full := make([]byte, 247)
	for i := range full {
		full[i] = 0xff
	}
	for _, h := range handles {
		for _, v := range absurd64 {
			for _, name := range names {
				add(dist.Message{Type: dist.MsgAnnounce, Handle: h, Flags: 1, Version: v, Blocks: 4096, Held: 4096, ID: [8]byte{byte(h), 1}, Name: name})
			}
		}
		for _, b := range absurd16 {
			add(dist.Message{Type: dist.MsgAnnounce, Handle: h, Flags: 0xff, Version: 7, Blocks: b, Held: b, Name: "x.mfz"})
			add(dist.Message{Type: dist.MsgAnnounce, Handle: h, Flags: 2, Version: 8, Blocks: b, Name: "x.mfz"})
			add(dist.Message{Type: dist.MsgBitfield, Handle: h, Block: b, Data: full})
			add(dist.Message{Type: dist.MsgBitfield, Handle: h, Block: b, Data: full[:1]})
			add(dist.Message{Type: dist.MsgHave, Handle: h, Block: b, Data: []byte{0x0f, 0xff, 0xff, 0xff}})
			add(dist.Message{Type: dist.MsgHave, Handle: h, Block: b, Data: full[:245]})
			add(dist.Message{Type: dist.MsgNotHave, Handle: h, Block: b})
			// Numbered requests: four entries at the limits, under
			// numbers that wrap, repeat and jump back.
			var entries []byte
			for range 4 {
				entries = append(entries, h)
				entries = binary.BigEndian.AppendUint16(entries, b)
				entries = binary.BigEndian.AppendUint16(entries, b)
				entries = binary.BigEndian.AppendUint16(entries, 0xffff-b)
			}
			for _, seq := range []uint16{0, 0xffff, 0x8000, 1} {
				add(dist.Message{Type: dist.MsgRequests, Seq: seq, Data: entries})
			}
			for _, c := range absurd16 {
				add(dist.Message{Type: dist.MsgRequest, Handle: h, Block: b, Chunk: c, Count: 0xffff - c})
				add(dist.Message{Type: dist.MsgRequest, Handle: h, Block: b, Chunk: c, Count: 1})
				add(dist.Message{Type: dist.MsgData, Handle: h, Block: b, Chunk: c, Data: full[:245]})
			}
		}
		for _, o := range absurd32 {
			add(dist.Message{Type: dist.MsgGetManifest, Handle: h, Offset: o})
			for _, t := range absurd32 {
				add(dist.Message{Type: dist.MsgManifest, Handle: h, Offset: o, Total: t, Data: full[:241]})
			}
		}
		add(dist.Message{Type: dist.MsgSync, Flags: 0xff})
		for _, t := range []byte{0, 11, 0x80, 0xff} {
			add(dist.Message{Type: t, Handle: h, Data: full[:100]})
		}
	}
	return ms
}
