package dev

import "encoding/binary"

// ring is a FIFO of packets (1..255 bytes each) kept in one fixed byte
// slice, so queueing never allocates. Each entry is a length byte, then,
// if the ring is stamped, an 8-byte little-endian time stamp, then the
// packet. A ring is not safe for concurrent use.
type ring struct {
	buf     []byte
	head    int // where the oldest entry starts
	used    int // bytes of buf in use, headers included
	bytes   int // packet bytes held, headers excluded
	count   int // entries held
	stamped bool
}

// newRing returns a ring that holds at least limit bytes of packets of any
// size: with a one-byte header per entry it needs twice that in the worst
// case (1-byte packets).
func newRing(limit int, stamped bool) ring {
	hdr := 1
	if stamped {
		hdr = 9
	}
	return ring{buf: make([]byte, limit*(1+hdr)), stamped: stamped}
}

func (r *ring) entryLen(n int) int {
	if r.stamped {
		return 9 + n
	}
	return 1 + n
}

// push appends p, which must be 1..255 bytes and fit.
func (r *ring) push(stamp int64, p []byte) {
	at := r.head + r.used
	r.put(at, []byte{byte(len(p))}) // does not escape: put copies
	at++
	if r.stamped {
		var s [8]byte
		binary.LittleEndian.PutUint64(s[:], uint64(stamp))
		r.put(at, s[:])
		at += 8
	}
	r.put(at, p)
	r.used += r.entryLen(len(p))
	r.bytes += len(p)
	r.count++
}

// peek returns the length and stamp of the oldest entry; the ring must not
// be empty.
func (r *ring) peek() (n int, stamp int64) {
	n = int(r.buf[r.head])
	if r.stamped {
		var s [8]byte
		r.get(r.head+1, s[:])
		stamp = int64(binary.LittleEndian.Uint64(s[:]))
	}
	return n, stamp
}

// pop removes the oldest entry, copies as much of it as fits into dst and
// returns its full length and stamp. The ring must not be empty.
func (r *ring) pop(dst []byte) (n int, stamp int64) {
	n, stamp = r.peek()
	at := r.head + r.entryLen(0)
	r.get(at, dst[:min(n, len(dst))])
	e := r.entryLen(n)
	r.head = (r.head + e) % len(r.buf)
	r.used -= e
	r.bytes -= n
	r.count--
	if r.count == 0 {
		r.head, r.used = 0, 0
	}
	return n, stamp
}

// put copies p into the ring at logical offset at, wrapping around.
func (r *ring) put(at int, p []byte) {
	at %= len(r.buf)
	k := copy(r.buf[at:], p)
	copy(r.buf, p[k:])
}

// get copies len(p) bytes from logical offset at into p, wrapping around.
func (r *ring) get(at int, p []byte) {
	at %= len(r.buf)
	k := copy(p, r.buf[at:])
	copy(p[k:], r.buf)
}
