//go:build !(arm || 386 || mips || mipsle)

package itcmodel

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/t2tiles/itcd/itc/packet"
	"golang.org/x/sys/unix"
)

// Available reports why the model cannot be mounted here, or nil. The
// error wraps ErrUnavailable and says what is missing.
func Available() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("%w: /dev/fuse is missing (no FUSE in this kernel or container): %v", ErrUnavailable, err)
	}
	if euid := os.Geteuid(); euid != 0 {
		return fmt.Errorf("%w: mounting FUSE directly, without fusermount, needs root; running as uid %d", ErrUnavailable, euid)
	}
	return nil
}

// New mounts an empty model (add tiles with Tile). An error wrapping
// ErrUnavailable says why FUSE cannot be used here.
func New(cfg Config) (*Model, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	m := &Model{
		cfg:   cfg,
		tiles: map[string]*Tile{},
		rng:   rand.New(rand.NewPCG(cfg.Seed, 0x17c_0d31)),
		wake:  make(chan struct{}),
	}
	m.tree.init()
	m.dir = cfg.Dir
	if m.dir == "" {
		d, err := os.MkdirTemp("", "itcmodel-")
		if err != nil {
			return nil, fmt.Errorf("itcmodel: mount point: %w", err)
		}
		m.dir, m.ownDir = d, true
	}
	opts := &fuse.MountOptions{
		FsName:               "itcmodel",
		Name:                 "itcmodel",
		DirectMountStrict:    true, // mount(2) ourselves; never fall back to fusermount
		DisableXAttrs:        true,
		DisableReadDirPlus:   true,
		IgnoreSecurityLabels: true,
	}
	srv, err := fuse.NewServer(&fsys{RawFileSystem: fuse.NewDefaultRawFileSystem(), m: m}, m.dir, opts)
	if err != nil {
		m.removeDir()
		return nil, fmt.Errorf("%w: mounting at %s failed (root and a usable /dev/fuse are needed): %v", ErrUnavailable, m.dir, err)
	}
	m.srv = srv
	m.served = make(chan struct{})
	go func() {
		defer close(m.served)
		srv.Serve() // returns once the mount is gone
	}()
	if err := srv.WaitMount(); err != nil {
		_ = m.unmount()
		return nil, fmt.Errorf("%w: mount at %s did not come up: %v", ErrUnavailable, m.dir, err)
	}
	return m, nil
}

// Dir returns where the model is mounted.
func (m *Model) Dir() string { return m.dir }

// Close fails every waiting and later operation (EIO; opens ENODEV),
// unmounts the model and waits for its server to stop. If descriptors are
// still open the unmount is lazy and the connection aborted, so no mount
// is left behind; Close then says so.
func (m *Model) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for _, l := range m.links {
		if l.timer != nil {
			l.timer.Stop()
		}
	}
	m.wakeUsed = true
	m.changedLocked()
	m.mu.Unlock()
	return m.unmount()
}

func (m *Model) unmount() error {
	conn := connectionOf(m.dir)
	if err := m.srv.Unmount(); err == nil {
		<-m.served
		m.removeDir()
		return nil
	}
	// Descriptors are still open (a test that failed before closing
	// them): detach the mount now and abort its connection, so those
	// descriptors fail with ENOTCONN and the server stops.
	derr := unix.Unmount(m.dir, unix.MNT_DETACH)
	aerr := abortConnection(conn)
	m.removeDir() // detached: the directory is empty again
	return fmt.Errorf("itcmodel: %s was still in use (descriptors open?): detached lazily (%v), connection abort: %v", m.dir, derr, aerr)
}

func (m *Model) removeDir() {
	if m.ownDir {
		_ = os.Remove(m.dir)
	}
}

// connectionOf returns the FUSE connection number of the mount at dir, the
// name of its directory under /sys/fs/fuse/connections: the kernel's
// device number of the mount, MAJOR<<20 | MINOR.
func connectionOf(dir string) string {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return ""
	}
	return strconv.FormatUint(uint64(unix.Major(st.Dev))<<20|uint64(unix.Minor(st.Dev)), 10)
}

// abortConnection writes 1 to the connection's abort file, which needs
// fusectl mounted on /sys/fs/fuse/connections.
func abortConnection(conn string) error {
	if conn == "" {
		return errors.New("connection unknown")
	}
	p := filepath.Join("/sys/fs/fuse/connections", conn, "abort")
	if err := os.WriteFile(p, []byte("1"), 0); err != nil {
		return fmt.Errorf("%w (mount fusectl there to abort: mount -t fusectl none /sys/fs/fuse/connections)", err)
	}
	return nil
}

// TB is the part of testing.TB that ForTest uses.
type TB interface {
	Helper()
	Skip(args ...any)
	Fatal(args ...any)
	Error(args ...any)
	Cleanup(func())
}

// ForTest returns a new model that the test's cleanup closes. Where FUSE
// cannot be used the test is skipped with the reason.
func ForTest(tb TB, cfg Config) *Model {
	tb.Helper()
	m, err := New(cfg)
	if errors.Is(err, ErrUnavailable) {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Error(err)
		}
	})
	return m
}

// PairForTest is ForTest with two tiles, a and b, a's ET joined to b's WT:
// what most tests of one link need.
func PairForTest(tb TB, cfg Config) (m *Model, a, b *Tile) {
	tb.Helper()
	m = ForTest(tb, cfg)
	var err error
	if a, err = m.Tile("a"); err == nil {
		if b, err = m.Tile("b"); err == nil {
			err = m.Link(a, packet.ET, b)
		}
	}
	if err != nil {
		tb.Fatal(err)
	}
	return m, a, b
}
