package dev

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/packet"
)

// Errors about the MFM devices. Every failed MFM write wraps
// ErrMFMUnavailable when the link's MFM device is not open.
var (
	ErrMFMUnavailable = errors.New("MFM device not open")
	ErrMFMNotOwned    = fmt.Errorf("%w: the MFM devices are left to mfmt2 (kernel.mfm_devices = false)", ErrMFMUnavailable)
	ErrMFZIDInvalid   = errors.New("invalid physics identity")

	errNoIdentity = fmt.Errorf("%w: no physics identity written yet (SetMFZID opens the MFM devices)", ErrMFMUnavailable)
	errReopening  = fmt.Errorf("%w: reopening after an mfzid write (ESTALE); MFM packets in flight are lost", ErrMFMUnavailable)
	errChanging   = fmt.Errorf("%w: the physics identity is being changed", ErrMFMUnavailable)
	errMFMClosed  = fmt.Errorf("%w: %w", ErrMFMUnavailable, ErrClosed)
)

// mfmRecoverRetry is how soon a failed reopen is tried again.
const mfmRecoverRetry = 250 * time.Millisecond

// mfzidRewriteGap spaces the writes of the tile's own mfzid back: a
// program that keeps writing its own (an mfmt2 left in charge of its
// devices) then costs at most one handshake restart a second.
const mfzidRewriteGap = time.Second

// checkMFZID refuses what the module would not keep as written. The empty
// identity is valid: it is what the module holds from boot (see writeID).
func checkMFZID(id []byte) error {
	switch {
	case len(id) > MaxMFZID:
		return fmt.Errorf("%w: %d bytes, at most %d (the itc_pkt module's limit)", ErrMFZIDInvalid, len(id), MaxMFZID)
	case bytes.IndexByte(id, 0) >= 0:
		return fmt.Errorf("%w: a NUL byte (the module would cut the identity there)", ErrMFZIDInvalid)
	}
	return nil
}

// mfmSet owns a tile's mfzid and its six MFM devices. The module lets
// only the thread that last wrote mfzid open them (ESRCH otherwise), so
// one goroutine locked to its OS thread (run) makes the write and every
// open; others read and write the open descriptors. An mfzid write by
// anyone makes the open devices fail ESTALE: whoever sees that marks the
// link stale and wakes run, which closes and reopens all six. Service
// traffic never waits on any of this.
type mfmSet struct {
	mfzidPath string
	log       *slog.Logger
	requests  chan mfmRequest
	wake      chan struct{} // capacity 1: a device went stale
	ready     chan struct{} // closed once run holds its thread
	tid       int           // run's thread id, set before ready closes

	// mu is held shared around every system call on dev[].fd and
	// exclusively while run swaps them.
	mu     sync.RWMutex
	dev    [8]kernelFD // by dir8; fd -1 while not open
	absent [8]bool     // no device in MFMDir: MFM goes through bulk
	why    error       // why a device is not open; wraps ErrMFMUnavailable

	stale    [8]atomic.Bool
	reopens  atomic.Uint64
	rewrites atomic.Uint64

	// Owned by run.
	id          []byte    // the identity last written, nil before SetMFZID
	failing     bool      // the last recovery failed; retry
	lastRewrite time.Time // when recover last wrote id back
}

type mfmRequest struct {
	id    []byte
	reply chan error
}

func newMFMSet(cfg KernelConfig) *mfmSet {
	s := &mfmSet{
		mfzidPath: cfg.MFZIDPath,
		log:       cfg.Logger,
		requests:  make(chan mfmRequest),
		wake:      make(chan struct{}, 1),
		ready:     make(chan struct{}),
		why:       errNoIdentity,
	}
	for d := range s.dev {
		s.dev[d].fd = -1
		if packet.Dir(d).IsLink() {
			s.dev[d].path = filepath.Join(cfg.MFMDir, packet.Dir(d).String())
		}
	}
	return s
}

// run is the thread that owns the MFM devices, until done closes.
func (s *mfmSet) run(done <-chan struct{}) {
	// Never unlocked: the thread ends with this goroutine, so no other
	// goroutine ever runs on the thread the module knows as the owner.
	runtime.LockOSThread()
	s.tid = unix.Gettid()
	close(s.ready)
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-done:
			s.closeAll(errMFMClosed)
			return
		case r := <-s.requests:
			err := s.apply(r.id)
			if err != nil && s.id != nil {
				// Written but not opened (a device held, or a stranger's
				// write between): keep trying, as after ESTALE.
				s.failing = true
				retry.Reset(mfmRecoverRetry)
			}
			r.reply <- err
			continue
		case <-s.wake:
		case <-retry.C:
		}
		if s.id == nil || !(s.failing || s.anyStale()) {
			continue
		}
		start := time.Now()
		err := s.recover()
		switch {
		case err != nil:
			if !s.failing {
				s.log.Warn("mfm devices: reopen failed; retrying", "err", err, "every", mfmRecoverRetry)
			}
			s.failing = true
			retry.Reset(mfmRecoverRetry)
		default:
			s.log.Info("mfm devices reopened after an mfzid write", "took", time.Since(start))
			s.failing = false
		}
	}
}

// set asks run to apply id and waits for the outcome.
func (s *mfmSet) set(id []byte, done <-chan struct{}) error {
	// Never nil, even when empty: run takes a nil id for "none given yet".
	r := mfmRequest{id: append([]byte{}, id...), reply: make(chan error, 1)}
	select {
	case s.requests <- r:
	case <-done:
		return ErrClosed
	}
	select {
	case err := <-r.reply:
		return err
	case <-done:
		return ErrClosed
	}
}

// apply closes the devices, writes id and opens them again (on run's
// thread). Closing first lets the exclusive opens succeed at once.
func (s *mfmSet) apply(id []byte) error {
	s.closeAll(errChanging)
	s.failing = false
	if err := s.writeID(id); err != nil {
		s.id = nil
		s.setWhy(err)
		return err
	}
	s.id = id
	return s.openAll()
}

// recover reopens every MFM device after one failed ESTALE (on run's
// thread). Only an mfzid write makes a device stale, and itcd's own close
// its devices first, so a stale device means another thread or process
// wrote mfzid; the module then refuses our opens (ESRCH). itcd owns the
// identity (kernel.mfm_devices = true) and the daemon's view of MFM
// compatibility rests on it, so it writes its own back rather than adopt
// a stranger's, then opens again.
func (s *mfmSet) recover() error {
	s.closeAll(errReopening)
	s.reopens.Add(1)
	err := s.openAll()
	if !errors.Is(err, unix.ESRCH) {
		return err
	}
	writer := "another thread or process"
	if p, ok := MFZIDWriter(s.mfzidPath); ok {
		writer = p.String()
	}
	if wait := mfzidRewriteGap - time.Since(s.lastRewrite); wait > 0 {
		return fmt.Errorf("mfzid: %s wrote it again %v after itcd wrote its own back; waiting %v (set kernel.mfm_devices = false if mfmt2 should own the MFM devices): %w",
			writer, mfzidRewriteGap-wait, wait.Round(time.Millisecond), err)
	}
	s.lastRewrite = time.Now()
	s.log.Warn("mfzid was written by another thread or process: writing this tile's own back (itcd owns it while kernel.mfm_devices = true)",
		"writer", writer, "mfzid", string(s.id))
	if err := s.writeID(s.id); err != nil {
		return err
	}
	s.rewrites.Add(1)
	return s.openAll()
}

// emptyMFZID is what writeID writes for the empty identity. sysfs never
// passes a 0-byte write to the module, but the module keeps what it is
// given as a C string (copied, then NUL-terminated) and compares it with
// the neighbour's by strncmp: one NUL byte makes it "", the value every
// tile holds from boot, and records this thread as the writer, so the
// MFM devices open and the tile is compatible with tiles that never
// wrote mfzid (the daemon's default, mfzid = "").
var emptyMFZID = []byte{0}

// writeID writes id to the mfzid file in one write.
func (s *mfmSet) writeID(id []byte) error {
	if len(id) == 0 {
		id = emptyMFZID
	}
	var fd int
	var err error
	for {
		fd, err = unix.Open(s.mfzidPath, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return mfzidOpenError(s.mfzidPath, err)
	}
	defer unix.Close(fd)
	n, err := writeRetry(fd, id)
	if err == nil && n != len(id) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("mfzid %s: writing the %d-byte physics identity: %w", s.mfzidPath, len(id), err)
	}
	return nil
}

// openAll opens the six MFM devices (on run's thread) and installs them,
// or none. A device missing from MFMDir leaves its link's MFM traffic to
// the bulk device; all six missing is the module not loaded.
func (s *mfmSet) openAll() error {
	var fds [8]int
	var absent [8]bool
	for d := range fds {
		fds[d] = -1
	}
	var firstMissing error
	for _, d := range packet.Links {
		path := s.dev[d].path
		fd, err := openDev(path)
		if err == unix.ENOENT {
			absent[d] = true
			if firstMissing == nil {
				firstMissing = mfmOpenError(path, s.mfzidPath, err)
			}
			continue
		}
		if err != nil {
			for _, fd := range fds {
				if fd >= 0 {
					unix.Close(fd)
				}
			}
			err = mfmOpenError(path, s.mfzidPath, err)
			s.setWhy(err)
			return err
		}
		fds[d] = fd
	}
	if firstMissing != nil && absent == allLinks {
		s.setWhy(firstMissing)
		return firstMissing
	}
	var raw [8]bool
	for d, fd := range fds {
		raw[d] = fd >= 0 && rawSafe(fd) // before the lock: FUSE answers it from user space
	}
	s.mu.Lock()
	for d := range fds {
		s.dev[d].fd, s.dev[d].raw = fds[d], raw[d]
		s.stale[d].Store(false)
	}
	s.absent, s.why = absent, nil
	s.mu.Unlock()
	for _, d := range packet.Links {
		if absent[d] {
			s.log.Info("mfm device missing: that link's MFM packets go through the bulk device", "path", s.dev[d].path)
		}
	}
	return nil
}

// allLinks is absent with every link's device missing.
var allLinks = func() (a [8]bool) {
	for _, d := range packet.Links {
		a[d] = true
	}
	return a
}()

// setWhy records why the devices are not open, for failed writes.
func (s *mfmSet) setWhy(err error) {
	if !errors.Is(err, ErrMFMUnavailable) {
		err = fmt.Errorf("%w: %w", ErrMFMUnavailable, err)
	}
	s.mu.Lock()
	s.why = err
	s.mu.Unlock()
}

// closeAll closes every open MFM device; why says, until they open
// again, why an MFM write fails.
func (s *mfmSet) closeAll(why error) {
	var old []int
	s.mu.Lock()
	for d := range s.dev {
		if s.dev[d].fd >= 0 {
			old = append(old, s.dev[d].fd)
			s.dev[d].fd = -1
		}
	}
	s.absent, s.why = [8]bool{}, why
	for d := range s.stale {
		s.stale[d].Store(false) // they were about the descriptors just closed
	}
	s.mu.Unlock()
	for _, fd := range old {
		unix.Close(fd)
	}
}

func (s *mfmSet) anyStale() bool {
	for d := range s.stale {
		if s.stale[d].Load() {
			return true
		}
	}
	return false
}

// markStale records that link d's device failed ESTALE and wakes run.
func (s *mfmSet) markStale(d packet.Dir) {
	if !s.stale[d].Swap(true) {
		notify(s.wake)
	}
}

// read reads one packet from link d's MFM device. A device not open, or
// stale, reads as empty (EAGAIN).
func (s *mfmSet) read(d packet.Dir, dst []byte) (int, string, error) {
	f := &s.dev[d]
	if s.stale[d].Load() {
		return 0, f.path, unix.EAGAIN
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if f.fd < 0 {
		return 0, f.path, unix.EAGAIN
	}
	n, err := devRead(f.fd, dst, f.raw)
	switch {
	case err == unix.ESTALE:
		s.markStale(d)
		return 0, f.path, unix.EAGAIN
	case err == nil && n > 0:
		f.read.Add(1)
	}
	return n, f.path, err
}

// write writes MFM packet p to link d's device. sent is false when the
// link has no MFM device in MFMDir, for the caller to use bulk.
func (s *mfmSet) write(d packet.Dir, p []byte) (sent bool, err error) {
	f := &s.dev[d]
	s.mu.RLock()
	defer s.mu.RUnlock()
	if f.fd < 0 {
		if s.absent[d] {
			return false, nil
		}
		return true, fmt.Errorf("link %v: MFM packet not sent: mfm device %s: %w", d, f.path, s.why)
	}
	if s.stale[d].Load() {
		return true, fmt.Errorf("link %v: MFM packet not sent: mfm device %s: %w", d, f.path, errReopening)
	}
	n, err := devWrite(f.fd, p, f.raw)
	switch {
	case err == unix.ESTALE:
		s.markStale(d)
		return true, fmt.Errorf("link %v: MFM packet not sent: mfm device %s: %w", d, f.path, errReopening)
	case err == nil && n == len(p):
		f.written.Add(1)
		return true, nil
	case err == nil:
		return true, fmt.Errorf("itc device %s: short write: %d of %d bytes", f.path, n, len(p))
	}
	return true, kernelWriteError(f.path, p, true, d, err)
}

// appendCounts appends the six MFM devices' counts.
func (s *mfmSet) appendCounts(c []DeviceCounts) []DeviceCounts {
	for _, d := range packet.Links {
		f := &s.dev[d]
		c = append(c, DeviceCounts{f.path, f.read.Load(), f.written.Load()})
	}
	return c
}
