package dev

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/internal/tick"
	"github.com/t2tiles/itcd/itc/packet"
)

// Kernel is a Device on the itc_pkt character devices of a T2 tile, as
// the module ships: service traffic is read from bulk and flash (the
// module splits it by byte 1, bit 7) and written to bulk; MFM traffic
// goes through the six MFM devices, which SetMFZID opens (see mfmSet).
// Each device is opened exclusively and non-blocking; since the devices
// have no poll(), ReadPacket polls them with a backoff and Close never
// waits on a blocked system call. Local packets never come from the
// shipped module; any a device delivers are passed up as read.
type Kernel struct {
	cfg KernelConfig
	log *slog.Logger

	// mu is held shared around every system call on svc and exclusively
	// by Close while it closes them, so a descriptor is never used after
	// it is closed (and perhaps reused).
	mu     sync.RWMutex
	svc    []*kernelFD // svc[0] is written to (Path); all are read
	mfm    *mfmSet     // nil unless cfg.MFMDevices
	closed atomic.Bool
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	statusMu   sync.Mutex
	status     Status
	statusBad  bool // the last read of StatusPath failed (logged once)
	statusFile *statusReader
	changes    chan struct{}

	// wrote tells the reader a packet went out: a reply may follow, so
	// it polls at once and from the shortest backoff again.
	wrote chan struct{}

	// Reader state: ReadPacket runs in one goroutine at a time.
	next    int
	sleep   *sleeper      // wakes the reader (kernelraw.go)
	backoff time.Duration // the reader's next sleep when no device has a packet (pollBackoff)
	polls   atomic.Uint64 // KernelStats.Polls
	scratch [packet.MaxLen]byte
}

// kernelFD is one open device and what went through it.
type kernelFD struct {
	fd      int
	path    string
	raw     bool          // read and written by raw calls (rawSafe)
	read    atomic.Uint64 // packets
	written atomic.Uint64 // packets
}

var (
	_ Device          = (*Kernel)(nil)
	_ PhysicsIdentity = (*Kernel)(nil)
)

// OpenKernel opens the service devices (Path, then FlashPath) and starts
// polling the link status. With MFMDevices it starts the thread that will
// own the MFM devices; none is open until SetMFZID.
func OpenKernel(cfg KernelConfig) (*Kernel, error) {
	cfg = cfg.withDefaults()
	var svc []*kernelFD
	for i, p := range []string{cfg.Path, cfg.FlashPath} {
		if cfg.Open != nil {
			if i >= len(cfg.Open) {
				return nil, fmt.Errorf("itc devices: %d descriptors given open, want bulk and flash", len(cfg.Open))
			}
			svc = append(svc, &kernelFD{fd: cfg.Open[i], path: p})
			continue
		}
		fd, err := openKernelDev(p)
		if err != nil {
			for _, f := range svc {
				unix.Close(f.fd)
			}
			return nil, err
		}
		svc = append(svc, &kernelFD{fd: fd, path: p})
	}
	k, err := newKernel(cfg, svc)
	if err != nil {
		if cfg.Open == nil {
			for _, f := range svc {
				unix.Close(f.fd)
			}
		}
		return nil, err
	}
	if cfg.MFMDevices {
		k.mfm = newMFMSet(cfg)
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			k.mfm.run(k.done)
		}()
		<-k.mfm.ready
	}
	return k, nil
}

// newKernel makes a Kernel on service devices already open, which it
// closes only on Close. Tests use it with socket pairs standing in for
// the devices.
func newKernel(cfg KernelConfig, svc []*kernelFD) (*Kernel, error) {
	cfg = cfg.withDefaults()
	sl, err := newSleeper()
	if err != nil {
		return nil, err
	}
	for _, f := range svc {
		f.raw = rawSafe(f.fd)
	}
	k := &Kernel{
		cfg:        cfg,
		log:        cfg.Logger,
		svc:        svc,
		done:       make(chan struct{}),
		changes:    make(chan struct{}, 1),
		wrote:      make(chan struct{}, 1),
		sleep:      sl,
		statusFile: newStatusReader(cfg.StatusPath),
	}
	k.pollStatus()
	k.wg.Add(2)
	go k.statusLoop()
	go func() {
		defer k.wg.Done()
		sl.run()
	}()
	return k, nil
}

// openKernelDev opens a bulk or flash device, explaining a failure.
func openKernelDev(path string) (int, error) {
	fd, err := openDev(path)
	if err != nil {
		return -1, kernelOpenError(path, err)
	}
	return fd, nil
}

// openDev opens a device the way every itc device is used: read-write,
// non-blocking (there is no poll()), not inherited by child processes.
func openDev(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// SetMFZID implements PhysicsIdentity: on the thread that owns the MFM
// devices it closes them, writes id to MFZIDPath and opens all six
// again. The empty id is the module's value from boot (written as one
// NUL byte). It fails with ErrMFMNotOwned when MFMDevices is false and
// with ErrMFZIDInvalid on an id over MaxMFZID bytes or one with a NUL
// byte (the module would cut it there).
func (k *Kernel) SetMFZID(id []byte) error {
	if k.mfm == nil {
		return ErrMFMNotOwned
	}
	if err := checkMFZID(id); err != nil {
		return err
	}
	if k.closed.Load() {
		return ErrClosed
	}
	return k.mfm.set(id, k.done)
}

// KernelStats counts what went through each device of a Kernel.
type KernelStats struct {
	// Devices: bulk, flash, then the six MFM devices when owned. MFM
	// counts run on across reopens.
	Devices []DeviceCounts `json:"devices"`
	// MFMReopens counts attempts to reopen the MFM devices after ESTALE.
	MFMReopens uint64 `json:"mfm_reopens"`
	// MFZIDRewrites counts writes of this tile's mfzid back after
	// another thread or process wrote its own.
	MFZIDRewrites uint64 `json:"mfzid_rewrites"`
	// Polls counts the reader's wakeups to try the devices after it
	// found none with a packet: an idle tile's cost of reading devices
	// that have no poll().
	Polls uint64 `json:"polls"`
}

// Read returns the packets read from all the devices.
func (s KernelStats) Read() uint64 {
	var n uint64
	for _, d := range s.Devices {
		n += d.Read
	}
	return n
}

// DeviceCounts are the packets read from and written to one device.
type DeviceCounts struct {
	Path    string `json:"path"`
	Read    uint64 `json:"read"`
	Written uint64 `json:"written"`
}

// Stats returns the packet counts per device.
func (k *Kernel) Stats() KernelStats {
	s := KernelStats{Polls: k.polls.Load()}
	for _, f := range k.svc {
		s.Devices = append(s.Devices, DeviceCounts{Path: f.path, Read: f.read.Load(), Written: f.written.Load()})
	}
	if k.mfm != nil {
		s.Devices = k.mfm.appendCounts(s.Devices)
		s.MFMReopens = k.mfm.reopens.Load()
		s.MFZIDRewrites = k.mfm.rewrites.Load()
	}
	return s
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
	// On the wall-clock grid of StatusInterval, where the daemon's hellos
	// fall too: one wakeup serves both. The process's tick grid (a
	// timerfd) wakes it if it can, a Go timer otherwise: a Go timer costs
	// an idle tile about six thread switches a tick (internal/tick).
	next := func() time.Duration { now := time.Now(); return tick.Next(now, k.cfg.StatusInterval).Sub(now) }
	t := time.NewTimer(next())
	defer t.Stop()
	var grid <-chan struct{}
	if sub, err := tick.Subscribe(k.cfg.StatusInterval); err == nil {
		defer sub.Stop()
		t.Stop()
		grid = sub.C
	}
	for {
		select {
		case <-k.done:
			return
		case <-grid:
			k.pollStatus()
		case <-t.C:
			k.pollStatus()
			t.Reset(next())
		}
	}
}

// pollStatus reads StatusPath. A file that cannot be read or parsed is
// logged once (until it reads well again) and every link counts as down.
func (k *Kernel) pollStatus() {
	var s Status
	data, err := k.statusFile.read()
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

// Close implements Device: it stops the status poller and the MFM
// thread (which closes the MFM devices), makes ReadPacket return
// ErrClosed and closes the service devices. Every link then reads as
// down.
func (k *Kernel) Close() error {
	var err error
	k.once.Do(func() {
		k.closed.Store(true)
		close(k.done)
		k.sleep.close()
		k.wg.Wait()
		k.mu.Lock()
		for _, f := range k.svc {
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
