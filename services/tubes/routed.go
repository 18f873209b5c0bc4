package tubes

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/t2tiles/itcd/internal/crc32c"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// A tube to a tile beyond the neighbours travels in ROUTED messages
// (notes/protocol.md, "Service 9", ROUTED): the path in links from the
// sender, how many links it has taken, the sender's identity, and an
// ordinary tube message whose CRC also covers the identity of the tile the
// path ends at. That identity is not sent: a packet the path takes
// anywhere else fails its CRC there. Forwarding tiles keep no state for
// it; each adds one to the links taken and sends it on by the next.
const (
	msgRouted = 7
	// MaxHops is the longest path a ROUTED message takes: a bound on
	// every forwarded packet's life, and longer than any path across a
	// 20x20 grid.
	MaxHops = 32

	routedFixed = 3 + 8 // type, N, HOP; SRC

	// Flags in the byte of N. CE: a tile on the way found its queue for
	// the next link filling (congestion experienced); the destination
	// echoes it (ECE) on its next ACK, back the way the data came.
	routedCE    = 0x80
	routedECE   = 0x40
	routedNMask = 0x3f
)

var errRoute = errors.New("bad route")

// routedHeader is a ROUTED message's header.
type routedHeader struct {
	n, hop  int
	ce, ece bool
	path    [MaxHops]packet.Dir
	src     p2p.TileID
}

// routedLen is the header's length for a path of n links.
func routedLen(n int) int { return routedFixed + (n+1)/2 }

// segmentFor is the stream bytes one DATA carries on paths of up to hops
// links (0: a neighbour's tube).
func segmentFor(hops int) int {
	if hops == 0 {
		return MaxSegment
	}
	return MaxSegment - routedLen(hops)
}

// appendRouted appends a ROUTED message carrying inner, a sealed tube
// message whose CRC appendRouted computes again to cover dst and src.
// hop is the links the packet will have taken when it arrives at the
// first tile: 1 from its sender.
func appendRouted(b []byte, path []packet.Dir, src, dst p2p.TileID, inner []byte, flags byte) []byte {
	b = append(b, msgRouted, byte(len(path))|flags&(routedCE|routedECE), 1)
	for i := 0; i < len(path); i += 2 {
		v := byte(path[i]) << 4
		if i+1 < len(path) {
			v |= byte(path[i+1])
		}
		b = append(b, v)
	}
	b = append(b, src[:]...)
	start := len(b)
	b = append(b, inner...)
	body := b[start : len(b)-crcLen]
	binary.BigEndian.PutUint32(b[len(b)-crcLen:], routedCRC(dst, src, body))
	return b
}

// routedCRC is the CRC-32C of dst, src and body, in that order.
func routedCRC(dst, src p2p.TileID, body []byte) uint32 {
	return crc32c.Update(crc32c.Update(crc32c.Update(0, dst[:]), src[:]), body)
}

// parseRouted reads a ROUTED message's header and returns it with the
// inner message (aliasing p), unchecked: only its destination can check
// its CRC.
func parseRouted(p []byte) (h routedHeader, inner []byte, err error) {
	if len(p) < 3 || p[0] != msgRouted {
		return h, nil, errShort
	}
	h.n, h.hop = int(p[1]&routedNMask), int(p[2])
	h.ce, h.ece = p[1]&routedCE != 0, p[1]&routedECE != 0
	if h.n < 1 || h.n > MaxHops || h.hop < 1 || h.hop > h.n {
		return h, nil, fmt.Errorf("%w: %d links, %d taken", errRoute, h.n, h.hop)
	}
	hl := routedLen(h.n)
	if len(p) < hl {
		return h, nil, errShort
	}
	for i := range h.n {
		v := p[3+i/2]
		if i%2 == 0 {
			v >>= 4
		}
		d := packet.Dir(v & 0xf)
		if !d.IsLink() {
			return h, nil, fmt.Errorf("%w: step %d is %d, not a link", errRoute, i+1, v&0xf)
		}
		h.path[i] = d
	}
	if h.n%2 == 1 && p[3+h.n/2]&0xf != 0 {
		return h, nil, fmt.Errorf("%w: padding nibble not 0", errRoute)
	}
	copy(h.src[:], p[hl-8:hl])
	if h.src.IsZero() {
		return h, nil, fmt.Errorf("%w: sender is the zero identity", errRoute)
	}
	return h, p[hl:], nil
}

// back returns the path reversed: the way from the destination home.
func (h *routedHeader) back() []packet.Dir {
	out := make([]packet.Dir, h.n)
	for i := range h.n {
		out[h.n-1-i] = h.path[i].Opposite()
	}
	return out
}
