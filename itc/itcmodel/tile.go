//go:build !(arm || 386 || mips || mipsle)

package itcmodel

import (
	"path/filepath"

	"github.com/t2tiles/itcd/itc/packet"
)

// Tile is one model tile: the module's state on one T2 tile. Its methods
// are safe for concurrent use.
type Tile struct {
	m    *Model
	name string

	// The Model's mu guards everything below.
	status  uint32 // the status file's eight nibbles, dir8 0 lowest
	mfz     mfzState
	stale   [6]bool       // by dir6: an mfzid write since the MFM device was opened
	kitc    [6]kitcState  // by dir6: the handshake's view of each link
	links   [8]*link      // by dir8
	stats   [8]dirStats   // by dir8
	pru     [2]pruBuffers // by PRU
	user    [numMinors]*recordFIFO
	holders [numMinors]*handle
	reads   uint64 // read calls on device nodes, answered or not
}

// mfzState is what the last write to mfzid left: the writer's thread id
// (-1 before any write), a token drawn at random on the first write and
// incremented (skipping 0) on each later one, and the id itself, cut at
// its first NUL byte as the module's string functions cut it.
type mfzState struct {
	tid   int32
	token uint8
	id    []byte
}

// pruBuffers are one PRU's buffers: non-standard packets from the PRU for
// /dev/itc/pru/N, and the three outbound queues a write lands in (MFM
// writes in priority, the handshake's own packets in kernel, the rest in
// bulk). stalled holds them all back, as a PRU that takes no more does.
type pruBuffers struct {
	local, priority, kernel, bulk *recordFIFO
	stalled                       bool
}

// dirStats is one line of the statistics file: link-state announcements
// and, for MFM ([trafficMFM]) and service ([trafficService]) traffic,
// bytes and packets each way. All are uint32 and wrap, as in the module.
type dirStats struct {
	psan, sfan, toan uint32
	counts           [2]trafficCounts
}

type trafficCounts struct{ bytesSent, bytesRcvd, pktsSent, pktsRcvd uint32 }

const (
	trafficMFM     = 0
	trafficService = 1
)

func newTile(m *Model, name string) *Tile {
	t := &Tile{m: m, name: name, mfz: mfzState{tid: -1}}
	for n := range t.pru {
		dev := kernelNames[n]
		t.pru[n] = pruBuffers{
			local:    newFIFO("mLocalIB", dev),
			priority: newFIFO("mPriorityOB", dev),
			kernel:   newFIFO("mKernelOB", dev),
			bulk:     newFIFO("mBulkOB", dev),
		}
	}
	for mn := minor(0); mn < numMinors; mn++ {
		if mn == minorBulk || mn == minorFlash || mn.isMFM() {
			t.user[mn] = newFIFO("mUserIB", kernelNames[mn])
		}
	}
	return t
}

// inbound returns the buffer that reads of device mn take packets from,
// or nil for the event devices.
func (t *Tile) inbound(mn minor) *recordFIFO {
	if mn.isPRU() {
		return t.pru[mn].local
	}
	return t.user[mn]
}

// Name returns the tile's name, the directory under the mount that holds
// its files.
func (t *Tile) Name() string { return t.name }

// DevPath returns the path of a device, named as under /dev/itc: "bulk",
// "flash", "pru/0", "pktevents", "mfm/ET", and so on. DevPath("") is the
// directory standing for /dev/itc, DevPath("mfm") for /dev/itc/mfm.
func (t *Tile) DevPath(name string) string {
	return filepath.Join(t.m.dir, t.name, "dev", "itc", name)
}

// SysPath returns the path of a file of /sys/class/itc_pkt: "status",
// "mfzid", "statistics" or "fifos". SysPath("") is the directory.
func (t *Tile) SysPath(name string) string {
	return filepath.Join(t.m.dir, t.name, "sys", "class", "itc_pkt", name)
}

// Holder is who holds a device open: the opening thread and its process.
type Holder struct {
	Pid int // the process (thread group) id
	Tid int // the thread that opened it
}

// Holder reports who holds device name (as DevPath names it) open. The
// module itself keeps no such record; on a tile, look for the device
// among /proc/*/fd instead, which finds the model's holders too.
func (t *Tile) Holder(name string) (Holder, bool) {
	mn, ok := minorOf(name)
	if !ok {
		return Holder{}, false
	}
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	h := t.holders[mn]
	if h == nil {
		return Holder{}, false
	}
	return Holder{Pid: h.pid, Tid: h.tid}, true
}

// Nibble returns link d's digit of the status file: 0 no packet sync, 1
// synced, 2 synced and found MFM-compatible (and not lowered since).
func (t *Tile) Nibble(d packet.Dir) int {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	return t.nibbleLocked(d)
}

func (t *Tile) nibbleLocked(d packet.Dir) int {
	if d > 7 {
		return 0
	}
	return int(t.status>>(4*d)) & 0xF
}

// Compatible reports whether the handshake on link d has found both
// tiles' mfzids equal, so MFM packets from it reach mfm/DIR. After an
// mfzid change this can be false while Nibble still says 2.
func (t *Tile) Compatible(d packet.Dir) bool {
	d6, ok := dir6Of(d)
	if !ok {
		return false
	}
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	return t.kitc[d6] == kitcCompatible
}

// MFZID returns what the mfzid file shows: the thread id of its last
// writer (-1 if none), the token and the id.
func (t *Tile) MFZID() (tid int, token uint8, id string) {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	return int(t.mfz.tid), t.mfz.token, string(t.mfz.id)
}

// Queued returns how many packets wait in device name's inbound FIFO.
func (t *Tile) Queued(name string) int {
	mn, ok := minorOf(name)
	if !ok {
		return 0
	}
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	if f := t.inbound(mn); f != nil {
		return f.recordsNow
	}
	return 0
}

// Inject hands p to the module as if PRU pru (0 or 1) had sent it up:
// routed packets (DIR naming the link they came in on) are routed as
// received traffic, local ones (0xC3 link state: 'P' sync, 'F' framing
// error, 'T' timeout) change link state, non-standard ones go to
// /dev/itc/pru/N. Packets the module ignores (shorter than 2 bytes, the
// handshake's own MFM type 0) are ignored here too.
func (t *Tile) Inject(pru int, p []byte) {
	if pru < 0 || pru > 1 || len(p) == 0 || len(p) > rpmsgMaxPacket {
		return
	}
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	if !t.m.closed {
		t.receiveLocked(pru, p)
	}
}

// StallPRU holds back (on) or releases (off) everything PRU n (0 or 1)
// would send: its outbound queues fill, and then writes for its three
// links fail with EAGAIN (O_NONBLOCK) or wait.
func (t *Tile) StallPRU(n int, on bool) {
	if n < 0 || n > 1 {
		return
	}
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	t.pru[n].stalled = on
	if !on {
		t.shipLocked()
	}
}

// Reads counts the read calls made on the tile's device nodes, those that
// found nothing (EAGAIN) included: what a polling reader costs the kernel.
func (t *Tile) Reads() uint64 {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	return t.reads
}
