package daemon

import "github.com/t2tiles/itcd/services/tep"

// Hello is the liveness hello (service 1, notes/protocol.md) with its
// fields exported, for programs that speak it from outside the daemon: the
// hostile neighbour of the attack tests (sim/hostile) forges hellos and
// reads the daemon's.
type Hello struct {
	Version  uint8      // liveness protocol version; 0 is invalid
	Tile     tep.TileID // the sender's identity; all zero is invalid
	Uptime   uint32     // seconds since the sender's daemon started
	Services uint64     // bit n set: the sender runs service n
	TS       uint32     // the sender's clock in ms; 0 is never sent
	EchoTS   uint32     // the last TS the sender heard on this link, 0 if none
	EchoHold uint32     // ms between hearing EchoTS and sending this hello
}

// HelloLen is the length of a hello's payload (what follows the service
// byte); a longer payload parses too, its tail ignored.
const HelloLen = helloLen

// AppendHello appends the payload of h to dst. It encodes whatever h
// holds, version 0 or an all-zero tile too (which ParseHello refuses), so a
// test can forge any hello.
func AppendHello(dst []byte, h Hello) []byte {
	x := hello{version: h.Version, tile: h.Tile, uptime: h.Uptime, services: h.Services, ts: h.TS, echoTS: h.EchoTS, echoHold: h.EchoHold}
	return appendHello(dst, &x)
}

// ParseHello reads a hello payload as the daemon does: false for one
// shorter than HelloLen, of another type, of version 0 or from an all-zero
// tile.
func ParseHello(b []byte) (Hello, bool) {
	x, ok := parseHello(b)
	if !ok {
		return Hello{}, false
	}
	return Hello{Version: x.version, Tile: x.tile, Uptime: x.uptime, Services: x.services, TS: x.ts, EchoTS: x.echoTS, EchoHold: x.echoHold}, true
}
