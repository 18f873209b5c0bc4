package dev

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/internal/syncbuf"
	"github.com/t2tiles/itcd/itc/packet"
)

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// writeStatus replaces the status file atomically, as sysfs content changes
// at once.
func writeStatus(t testing.TB, path, s string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// standIn is a Kernel on one end of a SOCK_SEQPACKET socket pair, which
// keeps packet boundaries like the itc_pkt devices; far is the other end.
type standIn struct {
	k          *Kernel
	far        int
	statusPath string
	log        *syncbuf.Buffer
}

func newStandIn(t *testing.T) *standIn { t.Helper(); return newStandInWith(t, nil) }

// newStandInWith is newStandIn with mod applied to the configuration.
func newStandInWith(t *testing.T, mod func(*KernelConfig)) *standIn {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if err := unix.SetNonblock(fd, true); err != nil {
			t.Fatal(err)
		}
	}
	s := &standIn{far: fds[1], statusPath: filepath.Join(t.TempDir(), "status"), log: &syncbuf.Buffer{}}
	writeStatus(t, s.statusPath, "00000000")
	cfg := KernelConfig{
		Path:           "standin",
		StatusPath:     s.statusPath,
		StatusInterval: 5 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(s.log, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	s.k, err = newKernel(cfg, []*kernelFD{{fd: fds[0], path: "standin"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.k.Close()
		unix.Close(s.far)
	})
	return s
}

func service(t testing.TB, d packet.Dir, payload string) []byte {
	t.Helper()
	b, err := packet.AppendService(nil, d, packet.ServiceCounter, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKernelPacketBoundaries(t *testing.T) {
	s := newStandIn(t)
	in := [][]byte{
		service(t, packet.ET, ""),
		service(t, packet.NE, strings.Repeat("x", packet.MaxServicePayload)),
		{0xC1, 1, 2, 3}, // a local debug packet from the PRU
		service(t, packet.WT, "hello"),
	}
	for _, p := range in {
		if _, err := unix.Write(s.far, p); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, packet.MaxLen)
	for i, want := range in {
		n, err := s.k.ReadPacket(buf)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("read %d: got % x, want % x", i, buf[:n], want)
		}
	}
	for i, p := range in {
		if err := s.k.WritePacket(p); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	for i, want := range in {
		n, err := unix.Read(s.far, buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("far end read %d: got % x, want % x", i, buf[:n], want)
		}
	}
}

func TestKernelShortBuffer(t *testing.T) {
	s := newStandIn(t)
	p := service(t, packet.ET, "0123456789")
	unix.Write(s.far, p)
	buf := make([]byte, 4)
	n, err := s.k.ReadPacket(buf)
	if !errors.Is(err, io.ErrShortBuffer) || n != 4 || !bytes.Equal(buf, p[:4]) {
		t.Fatalf("got %d, %v, % x", n, err, buf)
	}
}

func TestKernelCloseStopsReader(t *testing.T) {
	s := newStandIn(t)
	errc := make(chan error, 1)
	go func() {
		_, err := s.k.ReadPacket(make([]byte, packet.MaxLen))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it reach the idle backoff
	if err := s.k.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("ReadPacket after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadPacket still blocked after Close")
	}
	if _, err := s.k.ReadPacket(make([]byte, packet.MaxLen)); !errors.Is(err, ErrClosed) {
		t.Fatalf("second ReadPacket: %v", err)
	}
	if err := s.k.WritePacket(service(t, packet.ET, "x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("WritePacket after Close: %v", err)
	}
	if err := s.k.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if s.k.Status() != (Status{}) {
		t.Fatalf("status after Close: %v", s.k.Status())
	}
}

func TestKernelWriteMalformed(t *testing.T) {
	s := newStandIn(t)
	for _, tc := range []struct {
		name string
		p    []byte
		want error
	}{
		{"empty", nil, packet.ErrEmpty},
		{"too long", append([]byte{0x82, 2}, make([]byte, 254)...), packet.ErrTooLong},
		{"service 0", []byte{0x82, 0}, packet.ErrService0},
		{"no link", []byte{0x80, 2}, packet.ErrNoLink},
		{"reserved local", []byte{0xC7}, packet.ErrReservedLocal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.k.WritePacket(tc.p)
			var pe *packet.Error
			if !errors.Is(err, tc.want) || !errors.As(err, &pe) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Nothing reached the far end.
	if n, err := unix.Read(s.far, make([]byte, 300)); err != unix.EAGAIN {
		t.Fatalf("far end got %d bytes, %v", n, err)
	}
}

func TestKernelWouldBlock(t *testing.T) {
	s := newStandIn(t)
	p := service(t, packet.ET, strings.Repeat("z", 200))
	var err error
	i := 0
	for ; i < 100000 && err == nil; i++ {
		err = s.k.WritePacket(p)
	}
	if !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("after %d writes: %v, want ErrWouldBlock", i, err)
	}
	if !strings.Contains(err.Error(), "ET") {
		t.Errorf("error %q does not name the link", err)
	}
	// Drain one; the writer can go on.
	buf := make([]byte, 300)
	if _, err := unix.Read(s.far, buf); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "room in the queue", func() bool { return s.k.WritePacket(p) == nil })
}

func TestKernelWriteErrorMapping(t *testing.T) {
	p := []byte{0x82, 2}
	for _, tc := range []struct {
		errno  unix.Errno
		routed bool
		is     error
		text   string
	}{
		{unix.EAGAIN, true, ErrWouldBlock, "link ET"},
		{unix.EAGAIN, false, ErrWouldBlock, ""},
		{unix.EHOSTUNREACH, true, ErrLinkDown, "link ET"},
		{unix.EINVAL, true, unix.EINVAL, "invalid"},
		{unix.ENXIO, true, unix.ENXIO, "0x82"},
		{unix.EIO, true, unix.EIO, "/dev/itc/bulk"},
	} {
		err := kernelWriteError("/dev/itc/bulk", p, tc.routed, packet.ET, tc.errno)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%v: got %v, want %v containing %q", tc.errno, err, tc.is, tc.text)
		}
	}
	if testing.AllocsPerRun(100, func() { kernelWriteError("x", p, true, packet.ET, unix.EAGAIN) }) != 0 {
		t.Error("mapping EAGAIN allocates")
	}
}

func TestKernelStatus(t *testing.T) {
	s := newStandIn(t)
	if got := s.k.Status(); got != (Status{}) {
		t.Fatalf("initial status %v", got)
	}
	for _, tc := range []struct {
		file string
		want Status
	}{
		{"00000200", Status{packet.ET: LinkMFM}},
		{"01000102", Status{packet.ET: LinkUp, packet.WT: LinkUp}}, // NT is never up
		{"00000000", Status{}},
		{"22222222", Status{1: 2, 2: 2, 3: 2, 5: 2, 6: 2, 7: 2}},
	} {
		writeStatus(t, s.statusPath, tc.file)
		select {
		case <-s.k.StatusChanges():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no status change notification", tc.file)
		}
		waitFor(t, "status "+tc.file, func() bool { return s.k.Status() == tc.want })
	}
	// Garbage: every link down, logged once however often it is read.
	writeStatus(t, s.statusPath, "garbage!")
	waitFor(t, "links down on a bad status file", func() bool { return s.k.Status() == Status{} })
	time.Sleep(30 * time.Millisecond) // several more polls
	if n := strings.Count(s.log.String(), "unreadable"); n != 1 {
		t.Fatalf("bad status logged %d times:\n%s", n, s.log.String())
	}
	writeStatus(t, s.statusPath, "00000020")
	waitFor(t, "recovery", func() bool { return s.k.Status().Up(packet.NE) })
	os.Remove(s.statusPath)
	waitFor(t, "links down on a missing status file", func() bool { return s.k.Status() == Status{} })
}

func TestOpenKernelErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenKernel(KernelConfig{Path: filepath.Join(dir, "bulk"), MFMDir: ""})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join(dir, "bulk")) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing device: %v", err)
	}
	if err := kernelOpenError("/dev/itc/bulk", unix.EBUSY); !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), "already open") {
		t.Fatalf("EBUSY: %v", err)
	}
	if err := kernelOpenError("/dev/itc/bulk", unix.EACCES); !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "permission") {
		t.Fatalf("EACCES: %v", err)
	}
	if _, err := openKernelDev(dir); err == nil { // a directory cannot be opened O_RDWR
		t.Fatal("opened a directory")
	}
	// Descriptors given open: bulk and flash both, and a failed open
	// leaves them to the caller.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if _, err := OpenKernel(KernelConfig{Open: fds[:1], StatusPath: filepath.Join(dir, "status")}); err == nil || !strings.Contains(err.Error(), "want bulk and flash") {
		t.Fatalf("one descriptor given open: %v", err)
	}
	if _, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFD, 0); err != nil {
		t.Fatalf("a descriptor given open was closed by a failed OpenKernel: %v", err)
	}
	if DefaultKernelConfig().Path != "/dev/itc/bulk" || DefaultKernelConfig().StatusPath != "/sys/class/itc_pkt/status" {
		t.Fatal("defaults changed")
	}
}

// TestOpenKernelFIFOs runs OpenKernel on FIFOs standing in for the bulk,
// flash and per-link MFM devices, to check that SetMFZID writes the mfzid
// file and opens the MFM devices present, that MFM packets go to their
// link's device (or to bulk where the link has none) and are read from it.
func TestOpenKernelFIFOs(t *testing.T) {
	dir := t.TempDir()
	bulk := filepath.Join(dir, "bulk")
	mfmDir := filepath.Join(dir, "mfm")
	os.Mkdir(mfmDir, 0o755)
	et := filepath.Join(mfmDir, "ET")
	flash := filepath.Join(dir, "flash")
	for _, p := range []string{bulk, flash, et} {
		if err := unix.Mkfifo(p, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
	}
	status := filepath.Join(dir, "status")
	writeStatus(t, status, "00000200")
	mfzid := filepath.Join(dir, "mfzid")
	if err := os.WriteFile(mfzid, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	k, err := OpenKernel(KernelConfig{Path: bulk, FlashPath: flash, MFMDevices: true, MFMDir: mfmDir, MFZIDPath: mfzid, StatusPath: status,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if err := k.SetMFZID([]byte("phys")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(mfzid); string(b) != "phys" {
		t.Fatalf("mfzid file holds %q", b)
	}
	if !k.Status().Up(packet.ET) {
		t.Fatalf("status %v", k.Status())
	}
	openPeek := func(p string) int {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}
	bulkR, etR := openPeek(bulk), openPeek(et)
	mfm, _ := packet.AppendMFM(nil, packet.ET, false, false, []byte("atom"))
	mfmNE, _ := packet.AppendMFM(nil, packet.NE, false, false, []byte("ne"))
	svc := service(t, packet.ET, "svc")
	for _, p := range [][]byte{mfm, mfmNE, svc} {
		if err := k.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 512)
	n, _ := unix.Read(etR, buf)
	if !bytes.Equal(buf[:n], mfm) {
		t.Fatalf("mfm/ET got % x, want % x", buf[:n], mfm)
	}
	n, _ = unix.Read(bulkR, buf)
	if want := append(append([]byte{}, mfmNE...), svc...); !bytes.Equal(buf[:n], want) {
		t.Fatalf("bulk got % x, want % x", buf[:n], want)
	}
	// A packet put into mfm/ET is read by ReadPacket.
	w, err := os.OpenFile(et, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write(mfm)
	n, err = k.ReadPacket(buf)
	if err != nil || !bytes.Equal(buf[:n], mfm) {
		t.Fatalf("ReadPacket: % x, %v", buf[:n], err)
	}
}

// The backend's paths a packet takes allocate nothing: a write to the
// device and a read of a waiting packet.
func TestKernelPacketPathsAllocateNothing(t *testing.T) {
	s := newStandIn(t)
	writeStatus(t, s.statusPath, "00000100") // ET (dir8 2) up
	waitFor(t, "ET up", func() bool { return s.k.Status().Up(packet.ET) })
	p := service(t, packet.ET, "allocation-free")
	buf := make([]byte, packet.MaxLen)
	far := make([]byte, packet.MaxLen)
	allocs := testing.AllocsPerRun(200, func() {
		if err := s.k.WritePacket(p); err != nil {
			t.Fatal(err)
		}
		if _, err := unix.Read(s.far, far); err != nil {
			t.Fatal(err)
		}
		if _, err := unix.Write(s.far, p); err != nil {
			t.Fatal(err)
		}
		if _, err := s.k.ReadPacket(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("a packet written and one read allocate %v times", allocs)
	}
}

// TestKernelWriteRestartsReadBackoff checks a reply to what the tile sent
// is read soon even after a quiet spell grew the read backoff: a write
// starts it from the shortest again. PollInterval is a minute here, so
// without that the reply would wait seconds.
func TestKernelWriteRestartsReadBackoff(t *testing.T) {
	s := newStandInWith(t, func(c *KernelConfig) { c.PollInterval = time.Minute })
	got := make(chan time.Time, 1)
	go func() {
		buf := make([]byte, packet.MaxLen)
		if _, err := s.k.ReadPacket(buf); err == nil {
			got <- time.Now()
		}
	}()
	time.Sleep(4 * time.Second) // the backoff grows past three seconds
	req, reply := service(t, packet.ET, "request"), service(t, packet.ET, "reply")
	if err := s.k.WritePacket(req); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, packet.MaxLen)
	waitFor(t, "the request at the far end", func() bool { n, _ := unix.Read(s.far, buf); return n > 0 })
	time.Sleep(50 * time.Millisecond) // the far tile's round trip
	sent := time.Now()
	if _, err := unix.Write(s.far, reply); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-got:
		if d := at.Sub(sent); d > time.Second {
			t.Fatalf("reply read %v after it arrived: the write did not restart the backoff", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("reply never read")
	}
}
