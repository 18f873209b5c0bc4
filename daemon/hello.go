package daemon

import (
	"encoding/binary"

	"github.com/t2tiles/itcd/p2p"
)

// Hello is the liveness hello (service 1), byte by byte in
// notes/protocol.md. It is exported for programs that speak it from
// outside the daemon: the hostile neighbour of the attack tests
// (sim/hostile) forges hellos and reads the daemon's.
type Hello struct {
	Version  uint8      // liveness protocol version; 0 is invalid
	Tile     p2p.TileID // the sender's identity; all zero is invalid
	Uptime   uint32     // seconds since the sender's daemon started
	Services uint64     // bit n set: the sender runs service n
	TS       uint32     // the sender's clock in ms; 0 is never sent
	EchoTS   uint32     // the last TS the sender heard on this link, 0 if none
	EchoHold uint32     // ms between hearing EchoTS and sending this hello
	// MFZDigest, sent when HasMFZDigest, is the first 4 bytes of the
	// SHA-256 of the physics identity the sender's device holds.
	MFZDigest    [4]byte
	HasMFZDigest bool
}

const helloType = 1

// HelloLen is the length of a hello's payload (what follows the service
// byte); a longer payload parses too, its tail ignored so later versions
// can extend it.
const HelloLen = 34

// HelloMFZLen is the length of a hello that carries a physics identity
// digest (bytes 34..37 of the payload). Version 1 daemons before it send
// HelloLen bytes and ignore the digest of others.
const HelloMFZLen = HelloLen + 4

// AppendHello appends the payload of h to dst. It encodes whatever h
// holds, version 0 or an all-zero tile too (which ParseHello refuses), so a
// test can forge any hello.
func AppendHello(dst []byte, h Hello) []byte {
	dst = append(dst, helloType, h.Version)
	dst = append(dst, h.Tile[:]...)
	dst = binary.BigEndian.AppendUint32(dst, h.Uptime)
	dst = binary.BigEndian.AppendUint64(dst, h.Services)
	dst = binary.BigEndian.AppendUint32(dst, h.TS)
	dst = binary.BigEndian.AppendUint32(dst, h.EchoTS)
	dst = binary.BigEndian.AppendUint32(dst, h.EchoHold)
	if h.HasMFZDigest {
		dst = append(dst, h.MFZDigest[:]...)
	}
	return dst
}

// ParseHello reads a hello payload: false for one shorter than HelloLen,
// of another type, of version 0 or from an all-zero tile.
func ParseHello(b []byte) (Hello, bool) {
	var h Hello
	if len(b) < HelloLen || b[0] != helloType || b[1] == 0 {
		return h, false
	}
	h.Version = b[1]
	copy(h.Tile[:], b[2:10])
	h.Uptime = binary.BigEndian.Uint32(b[10:])
	h.Services = binary.BigEndian.Uint64(b[14:])
	h.TS = binary.BigEndian.Uint32(b[22:])
	h.EchoTS = binary.BigEndian.Uint32(b[26:])
	h.EchoHold = binary.BigEndian.Uint32(b[30:])
	if len(b) >= HelloMFZLen {
		copy(h.MFZDigest[:], b[HelloLen:])
		h.HasMFZDigest = true
	}
	return h, !h.Tile.IsZero()
}
