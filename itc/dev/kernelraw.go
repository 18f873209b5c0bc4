package dev

import (
	"fmt"
	iofs "io/fs"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// What an idle tile's reader costs in thread switches (BENCHMARKS.md,
// "Idle cost"). The reader polls its devices 20 times a second; done
// with a Go timer and the usual system calls, each poll cost about
// seven thread switches:
//   - a Go timer wakes through the network poller, whose epoll wait
//     counts whole milliseconds: it wakes up to a millisecond early, then
//     sleeps one more;
//   - the runtime's monitor thread (sysmon) sleeps until the next timer,
//     so it wakes at each one too, and then naps in 20 us steps until the
//     process is idle;
//   - every system call announced to the scheduler wakes sysmon from its
//     idle sleep as well.
// So the reader sleeps on a timerfd, which the poller waits on with no
// timeout (one wakeup a poll), and reads and writes the devices by raw
// system calls, which the scheduler never hears of. A raw call holds its
// thread's P: safe only where it cannot block, on a non-blocking
// descriptor of a real device. A FUSE file (the module's model in the
// tests) answers from a server that may be in this very process, so it
// keeps the announced calls.

// rawSafe reports whether fd may be read and written by raw calls: it is
// non-blocking, a character device (or a FIFO or socket, stand-ins in
// tests), and not on FUSE, whose files a server in user space answers.
func rawSafe(fd int) bool {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_NONBLOCK == 0 {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR, unix.S_IFIFO, unix.S_IFSOCK:
	default:
		return false
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return false
	}
	return int64(fs.Type) != unix.FUSE_SUPER_MAGIC
}

// devRead reads one packet from fd, raw if raw. Like read(2) it returns
// -1 with an error.
func devRead(fd int, b []byte, raw bool) (int, error) {
	if !raw {
		return readRetry(fd, b)
	}
	return rawIO(unix.SYS_READ, fd, b)
}

// devWrite writes one packet to fd, raw if raw; -1 with an error.
func devWrite(fd int, b []byte, raw bool) (int, error) {
	if !raw {
		return writeRetry(fd, b)
	}
	return rawIO(unix.SYS_WRITE, fd, b)
}

// rawIO makes the read or write call nr on fd and b, again if
// interrupted.
func rawIO(nr uintptr, fd int, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	for {
		n, _, e := unix.RawSyscall(nr, uintptr(fd), uintptr(p), uintptr(len(b)))
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
		default:
			return -1, e
		}
	}
}

// sleeper wakes the reader after a while, by a timerfd (see above).
type sleeper struct {
	f  *os.File // the timerfd, CLOCK_MONOTONIC, non-blocking
	rc syscall.RawConn
	// C receives once the time set by arm has passed. A time set earlier
	// and replaced may still deliver: the reader then polls once more.
	C chan struct{}

	its   unix.ItimerSpec // arm's, owned by the reader
	afunc func(fd uintptr)
	rbuf  [8]byte // run's
	rfunc func(fd uintptr) bool
}

func newSleeper() (*sleeper, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("itc reader timer: timerfd_create: %w", err)
	}
	s := &sleeper{f: os.NewFile(uintptr(fd), "timerfd"), C: make(chan struct{}, 1)}
	if s.rc, err = s.f.SyscallConn(); err != nil {
		s.f.Close()
		return nil, fmt.Errorf("itc reader timer: %w", err)
	}
	s.afunc, s.rfunc = s.settime, s.tryRead // made once: a method value allocates
	return s, nil
}

// arm sets the timer to fire once, d from now, replacing any time set
// before. Only the reader calls it. A wakeup of the time replaced is
// taken off C first (settime then clears one the kernel holds); one that
// run has read but not yet passed on still comes: an extra poll.
func (s *sleeper) arm(d time.Duration) {
	select {
	case <-s.C:
	default:
	}
	s.its = unix.ItimerSpec{Value: unix.NsecToTimespec(max(int64(d), 1))} // zero would disarm
	_ = s.rc.Control(s.afunc)                                             // fails only once closed, and then the reader stops
}

func (s *sleeper) settime(fd uintptr) {
	// settime clears expiries not yet read; it cannot fail on a valid
	// relative time.
	unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&s.its)), 0, 0, 0)
}

// run passes each expiry to C until close.
func (s *sleeper) run() {
	for {
		if err := s.rc.Read(s.rfunc); err != nil {
			return
		}
		select {
		case s.C <- struct{}{}:
		default:
		}
	}
}

func (s *sleeper) tryRead(fd uintptr) bool {
	_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&s.rbuf[0])), uintptr(len(s.rbuf)))
	return e != unix.EAGAIN && e != unix.EINTR
}

// close ends run.
func (s *sleeper) close() { s.f.Close() }

// statusReader reads the link status file. On a filesystem held in
// memory (sysfs on a tile; tmpfs, procfs) nothing can block, so it opens,
// reads and closes by raw calls: os.ReadFile's six announced calls four
// times a second kept sysmon busy on an idle tile. Elsewhere (the FUSE
// model of the tests) it is os.ReadFile.
type statusReader struct {
	path    string
	cpath   *byte // path, NUL-terminated, for the raw open
	decided bool  // the file's filesystem is known: raw says which way
	raw     bool
	buf     [64]byte // owned by the one reader at a time (statusLoop)
}

func newStatusReader(path string) *statusReader {
	r := &statusReader{path: path}
	r.decide()
	return r
}

// decide looks at the filesystem of the file itself (through a symlink),
// until it can: a status file missing at the start (the module not yet
// loaded) is looked at again at the next read.
func (r *statusReader) decide() {
	p, err := unix.BytePtrFromString(r.path)
	if err != nil {
		r.decided = true // a NUL in the path: os.ReadFile says so
		return
	}
	var fs unix.Statfs_t
	if unix.Statfs(r.path, &fs) != nil {
		return
	}
	r.decided = true
	switch int64(fs.Type) {
	case unix.SYSFS_MAGIC, unix.TMPFS_MAGIC, unix.PROC_SUPER_MAGIC:
		r.cpath, r.raw = p, true
	}
}

// read returns the file's content (its first 64 bytes: a status is nine).
func (r *statusReader) read() ([]byte, error) {
	if !r.decided {
		r.decide()
	}
	if !r.raw {
		return os.ReadFile(r.path)
	}
	cwd := unix.AT_FDCWD
	fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(cwd), uintptr(unsafe.Pointer(r.cpath)), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return nil, &iofs.PathError{Op: "open", Path: r.path, Err: e}
	}
	n, err := devRead(int(fd), r.buf[:], true)
	unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	if err != nil {
		return nil, &iofs.PathError{Op: "read", Path: r.path, Err: err}
	}
	return r.buf[:n], nil
}
