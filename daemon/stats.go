package daemon

import (
	"sync/atomic"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
)

// Traffic classes counted per link.
const (
	classMFM = iota
	classService
	classLocal
	numClasses
)

var classNames = [numClasses]string{"mfm", "service", "local"}

func classOf(k packet.Kind) int {
	switch k {
	case packet.KindMFM:
		return classMFM
	case packet.KindService:
		return classService
	}
	return classLocal
}

func classOfHeader(h byte) int {
	switch {
	case h&(packet.BitSTND|packet.BitLOCL|packet.BitMFMT) == packet.BitSTND|packet.BitMFMT:
		return classMFM
	case h&(packet.BitSTND|packet.BitLOCL) == packet.BitSTND:
		return classService
	}
	return classLocal
}

// counter counts packets and bytes.
type counter struct{ packets, bytes atomic.Uint64 }

func (c *counter) add(n int) {
	c.packets.Add(1)
	c.bytes.Add(uint64(n))
}

func (c *counter) snapshot() control.Count {
	return control.Count{Packets: c.packets.Load(), Bytes: c.bytes.Load()}
}

// linkStats counts one link's traffic.
type linkStats struct {
	in, out     [numClasses]counter
	dropped     atomic.Uint64 // for a full queue, a missing consumer or a link down
	unowned     atomic.Uint64 // service packets for a number nobody owns
	notLive     atomic.Uint64 // service packets from a link whose itcd is not live
	malformed   atomic.Uint64 // did not decode
	suspect     atomic.Uint64 // OVRN or EROR set by the link layer
	writeErrors atomic.Uint64
	// mfmIncompatible: MFM packets from mfm.sock for a link that is not
	// MFM-compatible, not sent.
	mfmIncompatible atomic.Uint64
}

type stats struct {
	link      [8]linkStats
	local     counter       // local and non-standard packets from the device
	malformed atomic.Uint64 // malformed packets with no direction
}
