//go:build !(arm || 386 || mips || mipsle)

package itcmodel

import (
	"syscall"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// handle is one open of a device node: what the module's struct file
// stands for.
type handle struct {
	t   *Tile
	mn  minor
	tid int // the opening thread
	pid int // its process

	// The Model's mu guards flushed. flushed: a descriptor of this open
	// was closed and nothing has used it since, so its release is on the
	// way (see openDev).
	flushed bool
}

// releaseGrace bounds how long an open waits for a holder that has closed
// its descriptor to be released. FUSE sends RELEASE after close() has
// returned, so a program that closes a device and opens it again at once
// would otherwise get EBUSY, which the module never gives it. A holder
// that closed only one of two descriptors (dup, fork) keeps the device,
// and the open fails after this wait.
const releaseGrace = 2 * time.Second

// openDev is the module's open: every device is exclusive (EBUSY); an MFM
// device opens only for the thread that last wrote mfzid (ESRCH), and
// opening it clears its staleness.
func (t *Tile) openDev(mn minor, tid, pid int, cancel <-chan struct{}) (*handle, syscall.Errno) {
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	var deadline time.Time
	for {
		if m.closed {
			return nil, syscall.ENODEV
		}
		h := t.holders[mn]
		if h == nil {
			break
		}
		if !h.flushed {
			return nil, syscall.EBUSY
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(releaseGrace)
		}
		again, intr := m.waitLocked(cancel, deadline)
		if intr {
			return nil, syscall.EINTR
		}
		if !again && t.holders[mn] != nil {
			return nil, syscall.EBUSY
		}
	}
	if mn.isMFM() {
		if int(t.mfz.tid) != tid {
			return nil, syscall.ESRCH
		}
		t.stale[mn-minorMFM] = false
	}
	h := &handle{t: t, mn: mn, tid: tid, pid: pid}
	t.holders[mn] = h
	return h, 0
}

// flush notes that a descriptor of h was closed.
func (h *handle) flush() {
	h.t.m.mu.Lock()
	defer h.t.m.mu.Unlock()
	h.flushed = true
}

// release is the module's release: the device is free again.
func (h *handle) release() {
	m := h.t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if h.t.holders[h.mn] == h {
		h.t.holders[h.mn] = nil
		m.changedLocked()
	}
}

// read is the module's read: one packet per call from the device's FIFO,
// cut to len(dst) (the rest of it is lost). An empty FIFO fails with
// EAGAIN under O_NONBLOCK and otherwise waits, as the module does, until a
// packet comes or the caller is interrupted (EINTR: the module's wait
// would restart instead). A stale MFM device fails with ESTALE. The event
// devices read as empty: the model records no trace events.
func (h *handle) read(dst []byte, nonblock bool, cancel <-chan struct{}) (int, syscall.Errno) {
	t, m := h.t, h.t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	h.flushed = false
	t.reads++
	if h.mn.isMFM() && t.stale[h.mn-minorMFM] {
		return 0, syscall.ESTALE
	}
	f := t.inbound(h.mn)
	if f == nil {
		return 0, 0
	}
	for {
		if m.closed {
			return 0, syscall.EIO
		}
		if n, ok := f.take(dst); ok {
			return n, 0
		}
		if nonblock {
			return 0, syscall.EAGAIN
		}
		if _, intr := m.waitLocked(cancel, time.Time{}); intr {
			return 0, syscall.EINTR
		}
	}
}

// write is the module's write (writePacketHelper): one packet per call.
// bulk, flash and mfm/DIR route by the header's DIR: over 496 bytes
// EINVAL, STND clear ENXIO, link status 0 EHOSTUNREACH, over 255 EINVAL,
// in that order; MFM devices queue in the PRU's priority queue, the
// others in its bulk queue. pru/N takes up to 496 bytes unchecked into
// its PRU's bulk queue. A full queue fails with EAGAIN under O_NONBLOCK
// and otherwise waits. A stale MFM device fails with ESTALE first. The
// event devices take a single 0 byte (reset; other lengths EPERM, other
// bytes EINVAL).
func (h *handle) write(p []byte, nonblock bool, cancel <-chan struct{}) (int, syscall.Errno) {
	t, m := h.t, h.t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	h.flushed = false
	if m.closed {
		return 0, syscall.EIO
	}
	switch {
	case h.mn.isEvent():
		if len(p) != 1 {
			return 0, syscall.EPERM
		}
		if p[0] != 0 {
			return 0, syscall.EINVAL
		}
		return 1, 0
	case h.mn.isMFM() && t.stale[h.mn-minorMFM]:
		return 0, syscall.ESTALE
	}
	if len(p) > rpmsgMaxPacket {
		return 0, syscall.EINVAL
	}
	q, errno := t.outboundLocked(h.mn, p)
	if errno != 0 {
		return 0, errno
	}
	for !q.fits(len(p)) {
		if nonblock {
			return 0, syscall.EAGAIN
		}
		again, intr := m.waitLocked(cancel, time.Time{})
		if intr {
			return 0, syscall.EINTR
		}
		if m.closed || !again {
			return 0, syscall.EIO
		}
	}
	q.put(p)
	t.shipLocked()
	return len(p), 0
}

// outboundLocked picks the queue a write of p to device mn goes to, or
// the routing error (routeOutboundStandardPacket).
func (t *Tile) outboundLocked(mn minor, p []byte) (*recordFIFO, syscall.Errno) {
	if mn.isPRU() {
		return t.pru[mn].bulk, 0
	}
	if len(p) == 0 {
		return nil, syscall.EINVAL
	}
	if p[0]&hdrStandard == 0 {
		return nil, syscall.ENXIO
	}
	d := packet.Dir(p[0] & hdrDir)
	if t.nibbleLocked(d) == 0 {
		return nil, syscall.EHOSTUNREACH
	}
	if len(p) > packet.MaxLen {
		return nil, syscall.EINVAL
	}
	pru, ok := PRUOf(d)
	if !ok {
		return nil, syscall.ENODEV
	}
	if mn.isMFM() {
		return t.pru[pru].priority, 0
	}
	return t.pru[pru].bulk, 0
}
