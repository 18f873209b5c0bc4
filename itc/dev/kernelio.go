package dev

import (
	"fmt"
	"io"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/internal/tick"
	"github.com/t2tiles/itcd/itc/packet"
)

// ReadPacket implements Device. The devices have no poll(), so it polls
// them all in turn (bulk, flash, then the open MFM devices), sleeping from
// 200µs, doubling while they stay idle, up to PollInterval, and then on
// the wall-clock grid of PollInterval, where the daemon's hellos and idle
// ticks fall too (pollBackoff). A packet read or written starts the
// backoff again from 200µs: under load the reader polls at once, and a
// reply to what this tile just sent is read within a few of its round
// trips rather than a whole PollInterval, which can therefore be long
// enough for an idle tile to poll rarely. Hellos (service 1) are the
// exception: an idle tile with six neighbours reads 24 and sends 24 a
// second, and each one used to start the backoff again, eight polls
// within 25 ms every time. A buf shorter than the packet gets its first
// len(buf) bytes and an error wrapping io.ErrShortBuffer; give it
// packet.MaxLen bytes.
//
// A blocking reader was rejected: every device opens exclusively, so
// bulk and the MFM devices, which are also written, must stay
// non-blocking (a full queue is EAGAIN, not a blocked writer), and a
// thread blocked in read(2) on flash would hold Close until a packet came.
func (k *Kernel) ReadPacket(buf []byte) (int, error) {
	for {
		n, ev, err := k.tryRead(buf)
		if n > 0 {
			k.backoff = pollBackoff(k.backoff, ev, k.cfg.PollInterval)
		}
		if n > 0 || err != nil {
			return n, err
		}
		k.backoff = max(k.backoff, minReadBackoff)
		sleep := k.backoff
		if sleep >= k.cfg.PollInterval {
			now := time.Now()
			sleep = tick.Next(now, k.cfg.PollInterval).Sub(now)
		}
		k.sleep.arm(sleep)
		select {
		case <-k.sleep.C:
			k.polls.Add(1)
			k.backoff = pollBackoff(k.backoff, pollEmpty, k.cfg.PollInterval)
		case <-k.wrote:
			k.polls.Add(1)
			k.backoff = pollBackoff(k.backoff, pollWrote, k.cfg.PollInterval)
		case <-k.done:
			return 0, ErrClosed
		}
	}
}

// pollEvent is what the reader met: it sets the next sleep (pollBackoff).
type pollEvent uint8

const (
	pollEmpty pollEvent = iota // it slept and found no device with a packet
	pollWrote                  // a packet other than a hello went out: a reply may follow
	pollRead                   // it read a packet other than a hello
	pollHello                  // it read a hello (service 1, four a second a neighbour)
)

// pollBackoff is the reader's next sleep after ev, from cur: from
// minReadBackoff again after traffic, doubling after a sleep that found
// nothing, at most limit; a hello changes nothing.
func pollBackoff(cur time.Duration, ev pollEvent, limit time.Duration) time.Duration {
	switch ev {
	case pollRead, pollWrote:
		return minReadBackoff
	case pollHello:
		return max(cur, minReadBackoff)
	}
	return min(max(2*cur, minReadBackoff), limit)
}

// pollEventOf classifies a packet read or written: hellos do not hurry
// the reader, anything else (MFM traffic, every other service, a packet
// that does not decode) does.
func pollEventOf(p []byte, traffic pollEvent) pollEvent {
	if pk, err := packet.Decode(p); err == nil && pk.Kind == packet.KindService && pk.Service == packet.ServiceLiveness {
		return pollHello
	}
	return traffic
}

// tryRead reads one packet from the first device that has one, starting
// after the one read last, so no device starves the others, and says
// what it was (pollEventOf). It returns 0, nil if none has a packet.
// Sources are the service devices, then one slot per dir8 for the MFM
// devices.
func (k *Kernel) tryRead(buf []byte) (int, pollEvent, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.closed.Load() {
		return 0, pollEmpty, ErrClosed
	}
	dst := buf
	if len(dst) < packet.MaxLen {
		dst = k.scratch[:]
	}
	sources := len(k.svc)
	if k.mfm != nil {
		sources += 8
	}
	for j := range sources {
		i := (k.next + j) % sources
		var n int
		var err error
		var path string
		if i < len(k.svc) {
			f := k.svc[i]
			path = f.path
			n, err = devRead(f.fd, dst, f.raw)
			if err == nil && n > 0 {
				f.read.Add(1)
			}
		} else {
			n, path, err = k.mfm.read(packet.Dir(i-len(k.svc)), dst)
		}
		if err == unix.EAGAIN || err == nil && n == 0 {
			continue // nothing there (0: end of file on a stand-in)
		}
		if err != nil {
			return 0, pollEmpty, fmt.Errorf("itc device %s: read: %w", path, err)
		}
		k.next = i + 1
		ev := pollEventOf(dst[:n], pollRead)
		if len(buf) < packet.MaxLen {
			c := copy(buf, dst[:n])
			if c < n {
				return c, ev, fmt.Errorf("itc device %s: %d-byte packet in a %d-byte buffer: %w", path, n, len(buf), io.ErrShortBuffer)
			}
		}
		return n, ev, nil
	}
	return 0, pollEmpty, nil
}

func readRetry(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

func writeRetry(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Write(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// WritePacket implements Device. The packet is checked with packet.Decode
// first. MFM packets go to their link's MFM device: they fail with an
// error wrapping ErrMFMUnavailable while that is not open (MFMDevices
// false, no SetMFZID yet, or reopening after ESTALE), so a blocked MFM
// device never holds back service traffic. Everything else goes to the
// bulk device, which routes by DIR. EHOSTUNREACH from the kernel is
// ErrLinkDown and EAGAIN ErrWouldBlock.
func (k *Kernel) WritePacket(p []byte) error {
	pk, err := packet.Decode(p)
	if err != nil {
		return fmt.Errorf("itc device write: %w", err)
	}
	routed := pk.Kind == packet.KindService || pk.Kind == packet.KindMFM
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.closed.Load() {
		return ErrClosed
	}
	if pk.Kind == packet.KindMFM {
		if k.mfm == nil {
			return errMFMNotOwned[pk.Dir]
		}
		if sent, err := k.mfm.write(pk.Dir, p); sent {
			if err == nil {
				notify(k.wrote) // MFM traffic: never a hello
			}
			return err
		}
		// No MFM device for this link in MFMDir: the bulk device routes
		// MFM packets by DIR as well.
	}
	f := k.svc[0]
	n, err := devWrite(f.fd, p, f.raw)
	switch {
	case err == nil && n == len(p):
		f.written.Add(1)
		if pk.Kind != packet.KindService || pk.Service != packet.ServiceLiveness {
			notify(k.wrote)
		}
		return nil
	case err == nil:
		return fmt.Errorf("itc device %s: short write: %d of %d bytes", f.path, n, len(p))
	}
	return kernelWriteError(f.path, p, routed, pk.Dir, err)
}

// kernelWriteError maps the errno of a failed write to the Device errors.
// ErrWouldBlock and ErrLinkDown come back without allocating.
func kernelWriteError(path string, p []byte, routed bool, d packet.Dir, err error) error {
	switch err {
	case unix.EAGAIN:
		if routed {
			return errWouldBlock[d]
		}
		return ErrWouldBlock
	case unix.EHOSTUNREACH:
		if routed {
			return errLinkDown[d]
		}
		return ErrLinkDown
	case unix.EINVAL:
		return fmt.Errorf("itc device %s: kernel rejected a %d-byte packet as invalid (EINVAL; at most %d bytes): %w", path, len(p), packet.MaxLen, err)
	case unix.ENXIO:
		return fmt.Errorf("itc device %s: kernel rejected packet with header 0x%02x (ENXIO: not a standard packet, or no such link): %w", path, p[0], err)
	}
	return fmt.Errorf("itc device %s: write: %w", path, err)
}

// errLinkDown, errWouldBlock and errMFMNotOwned name the link without
// allocating on the write path.
var errLinkDown, errWouldBlock, errMFMNotOwned [8]error

func init() {
	for d := range packet.Dir(8) {
		errLinkDown[d] = fmt.Errorf("link %v: %w", d, ErrLinkDown)
		errWouldBlock[d] = fmt.Errorf("link %v: %w", d, ErrWouldBlock)
		errMFMNotOwned[d] = fmt.Errorf("link %v: MFM packet not sent: %w", d, ErrMFMNotOwned)
	}
}
