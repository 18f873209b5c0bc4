package daemon

import (
	"encoding/binary"

	"github.com/t2tiles/itcd/internal/buildinfo"
	"github.com/t2tiles/itcd/internal/crc32c"
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
	// Build, sent when HasBuild, is the sender's itcd version
	// (buildinfo.Wire: 1..32 printable ASCII bytes). A neighbour may send
	// anything: ParseHello keeps it only when its length is in bounds and
	// leaves it empty otherwise; BuildLabel judges the rest.
	Build    string
	HasBuild bool
	// Sealed, with HasBuild, ends the hello with a CRC-32C of every byte
	// before it and sets the flag helloSealed. T2 links flip bits
	// without saying so, and one flipped bit in an unsealed hello's
	// uptime reads as a restart: a false disconnect of every service.
	// AppendHello ignores it without HasBuild (a short hello has no
	// flags byte); ParseHello sets it only when the CRC matches.
	Sealed bool
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

// HelloBuildLen is the length of a hello that carries the sender's itcd
// version: after the digest (or 4 zero bytes), a flags byte and the
// version's length, then the version (bytes 40.., at most
// buildinfo.WireMax). Old daemons read bytes 34..37 of any hello of 38
// bytes or more as a digest, so a daemon without one sends the version
// only to a neighbour whose hellos are version 2 or later, which reads
// the flag helloNoDigest (Daemon.helloTo).
const HelloBuildLen = HelloMFZLen + 2

// The flags byte (38). helloNoDigest says bytes 34..37 are not a digest;
// helloSealed says the hello's last 4 bytes are a CRC-32C of the rest.
// The other bits are reserved: sent 0, ignored.
const (
	helloNoDigest = 1 << 0
	helloSealed   = 1 << 1
)

// ExtHelloVersion is the first liveness protocol version whose daemons
// read the flags byte: only such a neighbour gets a version without a
// digest before it.
const ExtHelloVersion = 2

// AppendHello appends the payload of h to dst. It encodes whatever h
// holds, version 0 or an all-zero tile too (which ParseHello refuses), so a
// test can forge any hello.
func AppendHello(dst []byte, h Hello) []byte {
	start := len(dst)
	dst = append(dst, helloType, h.Version)
	dst = append(dst, h.Tile[:]...)
	dst = binary.BigEndian.AppendUint32(dst, h.Uptime)
	dst = binary.BigEndian.AppendUint64(dst, h.Services)
	dst = binary.BigEndian.AppendUint32(dst, h.TS)
	dst = binary.BigEndian.AppendUint32(dst, h.EchoTS)
	dst = binary.BigEndian.AppendUint32(dst, h.EchoHold)
	if h.HasMFZDigest || h.HasBuild {
		var zero [4]byte
		d := h.MFZDigest[:]
		if !h.HasMFZDigest {
			d = zero[:]
		}
		dst = append(dst, d...)
	}
	if h.HasBuild {
		var flags byte
		if !h.HasMFZDigest {
			flags |= helloNoDigest
		}
		if h.Sealed {
			flags |= helloSealed
		}
		build := h.Build[:min(len(h.Build), 255)]
		dst = append(dst, flags, byte(len(build)))
		dst = append(dst, build...)
		if h.Sealed {
			dst = crc32c.Seal(dst, start)
		}
	}
	return dst
}

// ParseHello reads a hello payload: false for one shorter than HelloLen,
// of another type, of version 0, from an all-zero tile, or sealed with a
// CRC that does not match.
func ParseHello(b []byte) (Hello, bool) {
	var h Hello
	if len(b) < HelloLen || b[0] != helloType || b[1] == 0 {
		return h, false
	}
	if len(b) >= HelloBuildLen && b[HelloMFZLen]&helloSealed != 0 {
		// The seal covers every byte before it, the build's length too,
		// so the fields are read from what it covers.
		body, ok := crc32c.Open(b)
		if !ok || len(body) < HelloBuildLen {
			return Hello{}, false
		}
		b, h.Sealed = body, true
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
	if len(b) >= HelloBuildLen {
		h.HasBuild = true
		if b[HelloMFZLen]&helloNoDigest != 0 {
			h.MFZDigest, h.HasMFZDigest = [4]byte{}, false
		}
		// A length past the bound or the packet leaves Build empty,
		// which BuildLabel shows as invalid.
		if n := int(b[HelloMFZLen+1]); n <= buildinfo.WireMax && HelloBuildLen+n <= len(b) {
			h.Build = string(b[HelloBuildLen : HelloBuildLen+n])
		}
	}
	return h, !h.Tile.IsZero()
}

// Labels BuildLabel gives a neighbour whose hellos carry no valid version.
const (
	BuildUnknown = "unknown" // its hellos carry none: a daemon older than the field
	BuildInvalid = "invalid" // out of bounds or not printable ASCII
)

// BuildLabel is the neighbour's itcd version as status shows it.
func BuildLabel(build string, has bool) string {
	switch {
	case !has:
		return BuildUnknown
	case !buildinfo.ValidWire(build):
		return BuildInvalid
	}
	return build
}
