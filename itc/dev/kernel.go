package dev

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/packet"
)

// KernelConfig locates the itc_pkt devices of a real tile.
type KernelConfig struct {
	// Path is the device for service traffic. Empty means /dev/itc/bulk.
	Path string `toml:"path"`
	// MFMDir holds one MFM device per link, named by direction (ET, NE,
	// ...). Those present are opened; MFM packets for a link with an MFM
	// device are written to it, and MFM packets are read from all of them.
	// MFM packets for a link without one go to Path. Empty means none.
	MFMDir string `toml:"mfm_dir"`
	// StatusPath is the link status file. Empty means
	// /sys/class/itc_pkt/status.
	StatusPath string `toml:"status_path"`
	// PollInterval caps the read-poll backoff: the devices have no poll(),
	// so an idle reader retries from 200µs up to this. Zero means 2ms.
	PollInterval time.Duration `toml:"poll_interval"`
	// StatusInterval is how often StatusPath is read. Zero means 250ms.
	StatusInterval time.Duration `toml:"status_interval"`
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger `toml:"-"`
}

// Defaults of KernelConfig.
const (
	DefaultKernelPath       = "/dev/itc/bulk"
	DefaultKernelMFMDir     = "/dev/itc/mfm"
	DefaultKernelStatusPath = "/sys/class/itc_pkt/status"
)

const minReadBackoff = 200 * time.Microsecond

// DefaultKernelConfig returns the configuration of a real tile.
func DefaultKernelConfig() KernelConfig {
	return KernelConfig{
		Path:           DefaultKernelPath,
		MFMDir:         DefaultKernelMFMDir,
		StatusPath:     DefaultKernelStatusPath,
		PollInterval:   2 * time.Millisecond,
		StatusInterval: 250 * time.Millisecond,
	}
}

func (c KernelConfig) withDefaults() KernelConfig {
	d := DefaultKernelConfig()
	if c.Path == "" {
		c.Path = d.Path
	}
	if c.StatusPath == "" {
		c.StatusPath = d.StatusPath
	}
	if c.PollInterval <= 0 {
		c.PollInterval = d.PollInterval
	}
	if c.PollInterval < minReadBackoff {
		c.PollInterval = minReadBackoff
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = d.StatusInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Kernel is a Device on the itc_pkt character devices of a T2 tile. Each
// device is opened exclusively and non-blocking; since the devices have no
// poll(), ReadPacket polls them with a backoff and Close never waits on a
// blocked system call.
type Kernel struct {
	cfg KernelConfig
	log *slog.Logger

	// mu is held shared around every system call on fds and exclusively
	// by Close while it closes them, so a descriptor is never used after
	// it is closed (and perhaps reused).
	mu     sync.RWMutex
	fds    []kernelFD // fds[0] is the bulk device
	mfm    [8]int     // index into fds of link d's MFM device, or 0 (none)
	closed atomic.Bool
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	statusMu  sync.Mutex
	status    Status
	statusBad bool // the last read of StatusPath failed (logged once)
	changes   chan struct{}

	// Reader state: ReadPacket runs in one goroutine at a time.
	next    int
	timer   *time.Timer
	scratch [packet.MaxLen]byte
}

type kernelFD struct {
	fd   int
	path string
}

var _ Device = (*Kernel)(nil)

// OpenKernel opens the bulk device, the MFM devices present in MFMDir and
// starts polling the link status.
func OpenKernel(cfg KernelConfig) (*Kernel, error) {
	cfg = cfg.withDefaults()
	fd, err := openKernelDev(cfg.Path)
	if err != nil {
		return nil, err
	}
	fds := []kernelFD{{fd, cfg.Path}}
	var mfm [8]int
	if cfg.MFMDir != "" {
		for _, d := range packet.Links {
			p := filepath.Join(cfg.MFMDir, d.String())
			fd, err := openKernelDev(p)
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			if err != nil {
				for _, f := range fds {
					unix.Close(f.fd)
				}
				return nil, err
			}
			mfm[d] = len(fds)
			fds = append(fds, kernelFD{fd, p})
		}
	}
	return newKernel(cfg, fds, mfm), nil
}

// newKernel makes a Kernel on descriptors already open; mfm[d] is the
// index in fds of link d's MFM device, 0 for none. Tests use it with
// socket pairs standing in for the devices.
func newKernel(cfg KernelConfig, fds []kernelFD, mfm [8]int) *Kernel {
	cfg = cfg.withDefaults()
	k := &Kernel{
		cfg:     cfg,
		log:     cfg.Logger,
		fds:     fds,
		done:    make(chan struct{}),
		changes: make(chan struct{}, 1),
		mfm:     mfm,
		timer:   time.NewTimer(time.Hour),
	}
	k.timer.Stop()
	k.pollStatus()
	k.wg.Add(1)
	go k.statusLoop()
	return k
}

func openKernelDev(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, kernelOpenError(path, err)
		}
		return fd, nil
	}
}

// kernelOpenError explains why a device could not be opened.
func kernelOpenError(path string, err error) error {
	switch err {
	case unix.EBUSY:
		return fmt.Errorf("itc device %s is already open (another itcd or mfmt2?): %w", path, err)
	case unix.ENOENT:
		return fmt.Errorf("itc device %s does not exist (itc_pkt module not loaded, or not a T2 tile?): %w", path, err)
	case unix.EACCES, unix.EPERM:
		return fmt.Errorf("itc device %s: permission denied (run as root or a member of the device's group): %w", path, err)
	}
	return fmt.Errorf("itc device %s: open: %w", path, err)
}

// ReadPacket implements Device. The devices have no poll(), so it polls
// them all in turn, sleeping from 200µs up to PollInterval while they are
// idle. A buf shorter than the packet gets its first len(buf) bytes and an
// error wrapping io.ErrShortBuffer; give it packet.MaxLen bytes.
func (k *Kernel) ReadPacket(buf []byte) (int, error) {
	backoff := minReadBackoff
	for {
		n, err := k.tryRead(buf)
		if n > 0 || err != nil {
			return n, err
		}
		k.timer.Reset(backoff)
		select {
		case <-k.timer.C:
		case <-k.done:
			k.timer.Stop()
			return 0, ErrClosed
		}
		backoff = min(2*backoff, k.cfg.PollInterval)
	}
}

// tryRead reads one packet from the first device that has one, starting
// after the one read last, so no device starves the others. It returns
// 0, nil if none has a packet.
func (k *Kernel) tryRead(buf []byte) (int, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.closed.Load() {
		return 0, ErrClosed
	}
	dst := buf
	if len(dst) < packet.MaxLen {
		dst = k.scratch[:]
	}
	for j := range k.fds {
		i := (k.next + j) % len(k.fds)
		n, err := readRetry(k.fds[i].fd, dst)
		if err == unix.EAGAIN || n == 0 {
			continue // nothing there (0: end of file on a stand-in)
		}
		if err != nil {
			return 0, fmt.Errorf("itc device %s: read: %w", k.fds[i].path, err)
		}
		k.next = i + 1
		if len(buf) < packet.MaxLen {
			c := copy(buf, dst[:n])
			if c < n {
				return c, fmt.Errorf("itc device %s: %d-byte packet in a %d-byte buffer: %w", k.fds[i].path, n, len(buf), io.ErrShortBuffer)
			}
		}
		return n, nil
	}
	return 0, nil
}

func readRetry(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// WritePacket implements Device. The packet is checked with packet.Decode
// first; MFM packets go to their link's MFM device when there is one.
// EHOSTUNREACH from the kernel is ErrLinkDown and EAGAIN ErrWouldBlock.
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
	f := k.fds[0]
	if pk.Kind == packet.KindMFM && k.mfm[pk.Dir] != 0 {
		f = k.fds[k.mfm[pk.Dir]]
	}
	var n int
	for {
		n, err = unix.Write(f.fd, p)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err == nil && n == len(p):
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

// errLinkDown and errWouldBlock name the link without allocating on the
// write path.
var errLinkDown, errWouldBlock [8]error

func init() {
	for d := range packet.Dir(8) {
		errLinkDown[d] = fmt.Errorf("link %v: %w", d, ErrLinkDown)
		errWouldBlock[d] = fmt.Errorf("link %v: %w", d, ErrWouldBlock)
	}
}

// Status implements Device: the state last read from StatusPath.
func (k *Kernel) Status() Status {
	k.statusMu.Lock()
	defer k.statusMu.Unlock()
	return k.status
}

// StatusChanges implements Device.
func (k *Kernel) StatusChanges() <-chan struct{} { return k.changes }

func (k *Kernel) statusLoop() {
	defer k.wg.Done()
	t := time.NewTicker(k.cfg.StatusInterval)
	defer t.Stop()
	for {
		select {
		case <-k.done:
			return
		case <-t.C:
			k.pollStatus()
		}
	}
}

// pollStatus reads StatusPath. A file that cannot be read or parsed is
// logged once (until it reads well again) and every link counts as down.
func (k *Kernel) pollStatus() {
	var s Status
	data, err := os.ReadFile(k.cfg.StatusPath)
	if err == nil {
		s, err = ParseStatus(string(data))
	}
	s[packet.NT], s[packet.ST] = LinkDown, LinkDown
	k.statusMu.Lock()
	defer k.statusMu.Unlock()
	if err != nil {
		if !k.statusBad {
			k.log.Warn("itc link status unreadable: treating all links as down", "path", k.cfg.StatusPath, "err", err)
		}
		k.statusBad = true
	} else if k.statusBad {
		k.log.Info("itc link status readable again", "path", k.cfg.StatusPath, "status", s.String())
		k.statusBad = false
	}
	k.setStatusLocked(s)
}

func (k *Kernel) setStatusLocked(s Status) {
	if s != k.status {
		k.status = s
		notify(k.changes)
	}
}

// Close implements Device: it stops the status poller, makes ReadPacket
// return ErrClosed and closes the devices. Every link then reads as down.
func (k *Kernel) Close() error {
	var err error
	k.once.Do(func() {
		k.closed.Store(true)
		close(k.done)
		k.wg.Wait()
		k.mu.Lock()
		for _, f := range k.fds {
			if e := unix.Close(f.fd); e != nil && err == nil {
				err = fmt.Errorf("itc device %s: close: %w", f.path, e)
			}
		}
		k.mu.Unlock()
		k.statusMu.Lock()
		k.setStatusLocked(Status{})
		k.statusMu.Unlock()
	})
	return err
}
