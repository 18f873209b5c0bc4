//go:build !(arm || 386 || mips || mipsle)

package itcmodel

import "fmt"

// A record FIFO as the module keeps each packet buffer (ITCPacketBuffer):
// a Linux kfifo of 16 KB declared STRUCT_KFIFO_REC_1, so every record is a
// one-byte length and then the packet, laid into a byte ring. in and out
// are free-running byte counters (they wrap at 2^32); the fifos file shows
// them raw and masked. Modelling the bytes, not a queue of slices, keeps
// the numbers the fifos file shows, and the point where a buffer counts as
// full, the module's own.
const (
	fifoSize  = 1 << 14 // KFIFO_SIZE: 16 KB per buffer
	fifoMask  = fifoSize - 1
	recHeader = 1   // bytes of length before each record
	maxRecord = 255 // the largest length a one-byte record header holds
)

// recordFIFO is one packet buffer. It is not safe for concurrent use; the
// Model's lock guards it.
type recordFIFO struct {
	name       string // as the fifos file names it: "mUserIB-itc!bulk"
	in, out    uint32
	cdrops     uint32 // packets dropped since the last one that fitted
	tdrops     uint32 // packets dropped since the model started
	buf        [fifoSize]byte
	recordsNow int // records held, for tests and Queued
}

func newFIFO(buffer, device string) *recordFIFO {
	return &recordFIFO{name: buffer + "-" + device}
}

// used is kfifo_len: the bytes held, record headers included.
func (f *recordFIFO) used() uint32 { return f.in - f.out }

// avail is kfifo_avail on a record FIFO: the largest packet that fits
// next, which a one-byte header caps at 255 whatever the space.
func (f *recordFIFO) avail() uint32 {
	free := fifoSize - f.used()
	if free <= recHeader {
		return 0
	}
	return min(free-recHeader, maxRecord)
}

func (f *recordFIFO) empty() bool { return f.in == f.out }

// fits reports whether an n-byte packet fits now, the test the write path
// makes before it waits or fails with EAGAIN.
func (f *recordFIFO) fits(n int) bool { return uint32(n) <= f.avail() }

// offer is roomInPacketFIFO followed by kfifo_in: the packet is stored if
// it fits, and otherwise dropped and counted, as the receive path does.
func (f *recordFIFO) offer(p []byte) bool {
	if !f.fits(len(p)) {
		f.tdrops++
		f.cdrops++
		return false
	}
	f.cdrops = 0
	f.put(p)
	return true
}

// put stores p, 1..255 bytes, which must fit.
func (f *recordFIFO) put(p []byte) {
	f.buf[f.in&fifoMask] = byte(len(p))
	f.copyIn(f.in+recHeader, p)
	f.in += recHeader + uint32(len(p))
	f.recordsNow++
}

func (f *recordFIFO) copyIn(at uint32, p []byte) {
	i := at & fifoMask
	n := copy(f.buf[i:], p)
	copy(f.buf[:], p[n:])
}

// take removes the oldest record and copies it into dst. A dst shorter
// than the record gets its first len(dst) bytes and the rest is lost, as
// kfifo_to_user does. ok is false if the FIFO is empty.
func (f *recordFIFO) take(dst []byte) (n int, ok bool) {
	if f.empty() {
		return 0, false
	}
	size := uint32(f.buf[f.out&fifoMask])
	n = int(min(size, uint32(len(dst))))
	i := (f.out + recHeader) & fifoMask
	c := copy(dst[:n], f.buf[i:])
	copy(dst[c:n], f.buf[:])
	f.out += recHeader + size
	f.recordsNow--
	return n, true
}

// appendLine appends the fifos file's line for this buffer:
// "name bin bout min mout len avail cdrops tdrops". The module prints
// every number with %d, so counters past 2^31 show negative there too.
func (f *recordFIFO) appendLine(b []byte) []byte {
	return fmt.Appendf(b, "%s %d %d %d %d %d %d %d %d\n", f.name,
		int32(f.in), int32(f.out), f.in&fifoMask, f.out&fifoMask,
		f.used(), f.avail(), int32(f.cdrops), int32(f.tdrops))
}
