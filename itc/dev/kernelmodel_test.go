// go-fuse, under the model, does not build for 32-bit targets (its splice
// package takes syscall.Splice's count as int64), so neither do these
// tests; the unit tests built for linux/arm run without them.

//go:build !(arm || 386 || mips || mipsle)

package dev

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/internal/syncbuf"
	"github.com/t2tiles/itcd/itc/itcmodel"
	"github.com/t2tiles/itcd/itc/packet"
)

// The tests here run Kernel on the model of the itc_pkt module
// (itc/itcmodel), served over FUSE: every open, read and write is a real
// system call. They skip where FUSE is unavailable.

// modelPair mounts a model with tiles a and b, a's ET joined to b's WT.
func modelPair(t *testing.T) (*itcmodel.Model, *itcmodel.Tile, *itcmodel.Tile) {
	t.Helper()
	return itcmodel.PairForTest(t, itcmodel.Config{})
}

func modelConfig(tile *itcmodel.Tile, mfm bool, log *syncbuf.Buffer) KernelConfig {
	return KernelConfig{
		Path:           tile.DevPath("bulk"),
		FlashPath:      tile.DevPath("flash"),
		MFMDevices:     mfm,
		MFMDir:         tile.DevPath("mfm"),
		MFZIDPath:      tile.SysPath("mfzid"),
		StatusPath:     tile.SysPath("status"),
		StatusInterval: 5 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(log, nil)),
	}
}

// modelKernel is a Kernel on a model tile with a reader goroutine that
// hands every packet read to in; Close (at cleanup, before the model's)
// stops the reader.
type modelKernel struct {
	*Kernel
	in  chan []byte
	log *syncbuf.Buffer
}

func openModelKernel(t *testing.T, tile *itcmodel.Tile, mfm bool) *modelKernel {
	t.Helper()
	return openModelKernelWith(t, tile, mfm, nil)
}

// openModelKernelWith is openModelKernel with the config changed by set
// (if not nil) first.
func openModelKernelWith(t *testing.T, tile *itcmodel.Tile, mfm bool, set func(*KernelConfig)) *modelKernel {
	t.Helper()
	log := &syncbuf.Buffer{}
	cfg := modelConfig(tile, mfm, log)
	if set != nil {
		set(&cfg)
	}
	k, err := OpenKernel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mk := &modelKernel{Kernel: k, in: make(chan []byte, 1024), log: log}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		buf := make([]byte, packet.MaxLen)
		for {
			n, err := k.ReadPacket(buf)
			if err != nil {
				if !errors.Is(err, ErrClosed) {
					t.Errorf("ReadPacket: %v", err)
				}
				return
			}
			mk.in <- bytes.Clone(buf[:n])
		}
	}()
	t.Cleanup(func() {
		k.Close()
		<-stopped
	})
	return mk
}

// next returns the next packet read, failing after a generous deadline.
func (mk *modelKernel) next(t *testing.T) []byte {
	t.Helper()
	select {
	case p := <-mk.in:
		return p
	case <-time.After(15 * time.Second):
		t.Fatal("no packet read within 15s")
	}
	return nil
}

// arrived is p as its receiver reads it: DIR is the link it came in on.
func arrived(p []byte, d packet.Dir) []byte {
	q := bytes.Clone(p)
	packet.SetArrival(q, d)
	return q
}

// exchange writes ab on a (to ET) and ba on b (to WT) and checks each
// arrives at the other, its DIR rewritten to the link it came on.
func exchange(t *testing.T, ka, kb *modelKernel, ab, ba []byte) {
	t.Helper()
	if err := ka.WritePacket(ab); err != nil {
		t.Fatal(err)
	}
	if err := kb.WritePacket(ba); err != nil {
		t.Fatal(err)
	}
	if got := kb.next(t); !bytes.Equal(got, arrived(ab, packet.WT)) {
		t.Fatalf("b read % x, want % x", got, arrived(ab, packet.WT))
	}
	if got := ka.next(t); !bytes.Equal(got, arrived(ba, packet.ET)) {
		t.Fatalf("a read % x, want % x", got, arrived(ba, packet.ET))
	}
}

func counts(k *Kernel, path string) DeviceCounts {
	for _, c := range k.Stats().Devices {
		if c.Path == path {
			return c
		}
	}
	return DeviceCounts{}
}

// TestKernelModelServiceBothWays: service packets go both ways; those
// with byte 1 bit 7 clear arrive through flash, those with it set
// through bulk, and each device counts its own.
func TestKernelModelServiceBothWays(t *testing.T) {
	_, a, b := modelPair(t)
	ka, kb := openModelKernel(t, a, false), openModelKernel(t, b, false)
	waitFor(t, "link up", func() bool { return ka.Status().Up(packet.ET) && kb.Status().Up(packet.WT) })

	ab := service(t, packet.ET, "a to b")
	ba := service(t, packet.WT, "b to a")
	exchange(t, ka, kb, ab, ba)
	// Byte 1 bit 7 set (RSV1, which WritePacket refuses) is put in bulk:
	// as a PRU hands it up.
	pru, _ := itcmodel.PRUOf(packet.WT)
	hi := []byte{0x86, 0x81, 'b', 'u', 'l', 'k'}
	b.Inject(pru, hi)
	if got := kb.next(t); !bytes.Equal(got, hi) {
		t.Fatalf("b read % x, want % x", got, hi)
	}
	for _, tc := range []struct {
		k             *modelKernel
		tile          *itcmodel.Tile
		dev           string
		read, written uint64
	}{
		{ka, a, "bulk", 0, 1},
		{ka, a, "flash", 1, 0},
		{kb, b, "bulk", 1, 1},
		{kb, b, "flash", 1, 0},
	} {
		c := counts(tc.k.Kernel, tc.tile.DevPath(tc.dev))
		if c.Read != tc.read || c.Written != tc.written {
			t.Errorf("%s %s: counts %+v, want %d read %d written", tc.tile.Name(), tc.dev, c, tc.read, tc.written)
		}
	}
	if n := len(ka.Stats().Devices); n != 2 {
		t.Errorf("a counts %d devices without MFM, want bulk and flash", n)
	}
	// The model answers from a FUSE server in this process: a raw read
	// would hold the P its server may need (kernelraw.go).
	for _, f := range ka.svc {
		if f.raw {
			t.Errorf("%s on FUSE is read by raw calls", f.path)
		}
	}
}

// TestKernelModelMFMNotOwned: with mfm_devices = false neither mfzid nor
// an MFM device is touched, SetMFZID says why, MFM writes go nowhere and
// service traffic flows.
func TestKernelModelMFMNotOwned(t *testing.T) {
	_, a, b := modelPair(t)
	ka, kb := openModelKernel(t, a, false), openModelKernel(t, b, false)
	waitFor(t, "link up", func() bool { return ka.Status().Up(packet.ET) })
	if err := ka.SetMFZID([]byte("phys")); !errors.Is(err, ErrMFMNotOwned) || !strings.Contains(err.Error(), "kernel.mfm_devices = false") {
		t.Fatalf("SetMFZID: %v, want ErrMFMNotOwned", err)
	}
	if err := ka.WritePacket(mfmPacket(t, packet.ET, "x")); !errors.Is(err, ErrMFMUnavailable) || !strings.Contains(err.Error(), "mfmt2") {
		t.Fatalf("MFM write: %v, want ErrMFMNotOwned", err)
	}
	if tid, _, _ := a.MFZID(); tid != -1 {
		t.Fatalf("mfzid written by thread %d", tid)
	}
	for _, d := range packet.Links {
		if h, held := a.Holder("mfm/" + d.String()); held {
			t.Fatalf("mfm/%v held by %+v", d, h)
		}
	}
	p := service(t, packet.ET, "svc")
	if err := ka.WritePacket(p); err != nil {
		t.Fatal(err)
	}
	if got := kb.next(t); !bytes.Equal(got, arrived(p, packet.WT)) {
		t.Fatalf("b read % x", got)
	}
}

// TestKernelModelMFMEqualIDs: no MFM device is open before SetMFZID;
// after it, on the owning thread, MFM packets flow between tiles of the
// same identity.
func TestKernelModelMFMEqualIDs(t *testing.T) {
	_, a, b := modelPair(t)
	ka, kb := openModelKernel(t, a, true), openModelKernel(t, b, true)
	if _, held := a.Holder("mfm/ET"); held {
		t.Fatal("mfm/ET open before SetMFZID")
	}
	err := ka.WritePacket(mfmPacket(t, packet.ET, "early"))
	if !errors.Is(err, ErrMFMUnavailable) || !strings.Contains(err.Error(), "no physics identity") {
		t.Fatalf("MFM write before SetMFZID: %v", err)
	}
	for _, k := range []*modelKernel{ka, kb} {
		if err := k.SetMFZID([]byte("phys-1")); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range packet.Links {
		if h, _ := a.Holder("mfm/" + d.String()); h.Tid != ka.mfm.tid || h.Pid != os.Getpid() {
			t.Errorf("a's mfm/%v holder %+v, want the owning thread %d", d, h, ka.mfm.tid)
		}
	}
	if tid, _, id := a.MFZID(); tid != ka.mfm.tid || id != "phys-1" {
		t.Fatalf("a's mfzid: thread %d id %q", tid, id)
	}
	waitFor(t, "compatible", func() bool { return a.Compatible(packet.ET) && b.Compatible(packet.WT) })
	ab, ba := mfmPacket(t, packet.ET, "atom a"), mfmPacket(t, packet.WT, "atom b")
	exchange(t, ka, kb, ab, ba)
	if c := counts(ka.Kernel, a.DevPath("mfm/ET")); c.Written != 1 || c.Read != 1 {
		t.Fatalf("a's mfm/ET counts %+v", c)
	}
	if s := ka.Status()[packet.ET]; s != LinkMFM {
		t.Fatalf("a's ET status %v", s)
	}
}

// TestKernelModelMFMDifferentIDs: MFM packets between tiles of different
// identities are dropped by the module; service traffic still flows.
func TestKernelModelMFMDifferentIDs(t *testing.T) {
	_, a, b := modelPair(t)
	ka, kb := openModelKernel(t, a, true), openModelKernel(t, b, true)
	if err := ka.SetMFZID([]byte("phys-1")); err != nil {
		t.Fatal(err)
	}
	if err := kb.SetMFZID([]byte("phys-2")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "handshake done", func() bool { return !a.Compatible(packet.ET) && !b.Compatible(packet.WT) && ka.Status().Up(packet.ET) })
	if err := ka.WritePacket(mfmPacket(t, packet.ET, "lost")); err != nil {
		t.Fatal(err) // the link is up: the module sends it
	}
	marker := service(t, packet.ET, "after")
	if err := ka.WritePacket(marker); err != nil {
		t.Fatal(err)
	}
	// Links do not reorder: once the marker is read, the MFM packet sent
	// before it has been dropped.
	if got := kb.next(t); !bytes.Equal(got, arrived(marker, packet.WT)) {
		t.Fatalf("b read % x, want the service marker", got)
	}
	if n := b.Queued("mfm/WT"); n != 0 || counts(kb.Kernel, b.DevPath("mfm/WT")).Read != 0 {
		t.Fatalf("MFM packet delivered between different identities (%d queued)", n)
	}
}

// TestKernelModelMFMEmptyID: the empty identity (the daemon's default)
// is written as the module's value from boot: the writer is recorded, so
// the MFM devices open, and the tile is compatible with a neighbour that
// never wrote mfzid and carries MFM to one that wrote the empty one too.
func TestKernelModelMFMEmptyID(t *testing.T) {
	_, a, b := modelPair(t)
	ka, kb := openModelKernel(t, a, true), openModelKernel(t, b, true)
	if err := ka.SetMFZID(nil); err != nil {
		t.Fatalf("SetMFZID of the empty identity: %v", err)
	}
	if tid, _, id := a.MFZID(); tid != ka.mfm.tid || id != "" {
		t.Fatalf("a's mfzid: thread %d id %q, want the owning thread %d and the empty id", tid, id, ka.mfm.tid)
	}
	if h, held := a.Holder("mfm/ET"); !held || h.Tid != ka.mfm.tid {
		t.Fatalf("a's mfm/ET holder %+v (held %v), want the owning thread", h, held)
	}
	if tid, _, _ := b.MFZID(); tid != -1 {
		t.Fatalf("b's mfzid written by thread %d", tid)
	}
	waitFor(t, "compatible with a tile that never wrote mfzid", func() bool { return a.Compatible(packet.ET) && b.Compatible(packet.WT) })
	if err := kb.SetMFZID([]byte{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "compatible", func() bool { return a.Compatible(packet.ET) && b.Compatible(packet.WT) })
	p := mfmPacket(t, packet.ET, "empty ids")
	if err := ka.WritePacket(p); err != nil {
		t.Fatal(err)
	}
	if got := kb.next(t); !bytes.Equal(got, arrived(p, packet.WT)) {
		t.Fatalf("b read % x, want % x", got, arrived(p, packet.WT))
	}
}

// writeFile writes s to path in one write, as echo does to a sysfs file.
func writeFile(path, s string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte(s))
	return err
}

// TestKernelModelHeld: a device another opener holds gives an error that
// names the holder and what to do.
func TestKernelModelHeld(t *testing.T) {
	_, a, _ := modelPair(t)
	self := fmt.Sprintf("pid %d", os.Getpid())

	fd, err := unix.Open(a.DevPath("flash"), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenKernel(modelConfig(a, true, &syncbuf.Buffer{}))
	unix.Close(fd)
	if !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), self) || !strings.Contains(err.Error(), "another itcd") {
		t.Fatalf("flash held: %v, want EBUSY naming %s", err, self)
	}
	waitFor(t, "bulk closed after a failed OpenKernel", func() bool { _, held := a.Holder("bulk"); return !held })

	// mfmt2 (here a thread of this test) wrote mfzid and holds mfm/NW.
	hold := make(chan int)
	release := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if err := writeFile(a.SysPath("mfzid"), "mfmt2"); err != nil {
			t.Error(err)
		}
		fd, err := unix.Open(a.DevPath("mfm/NW"), unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Error(err)
		}
		hold <- fd
		<-release
		unix.Close(fd)
	}()
	<-hold
	ka := openModelKernel(t, a, true)
	err = ka.SetMFZID([]byte("phys"))
	close(release)
	if !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), self) || !strings.Contains(err.Error(), "kernel.mfm_devices = false") {
		t.Fatalf("mfm/NW held: %v, want EBUSY naming %s", err, self)
	}
	waitFor(t, "MFM devices closed after a failed SetMFZID", func() bool {
		for _, d := range packet.Links {
			if _, held := a.Holder("mfm/" + d.String()); held && d != packet.NW {
				return false
			}
		}
		return true
	})
	if err := ka.WritePacket(mfmPacket(t, packet.ET, "x")); !errors.Is(err, ErrMFMUnavailable) || !errors.Is(err, unix.EBUSY) {
		t.Fatalf("MFM write after a failed SetMFZID: %v", err)
	}
	// Once the holder is gone SetMFZID succeeds.
	waitFor(t, "mfm/NW released", func() bool { _, held := a.Holder("mfm/NW"); return !held })
	if err := ka.SetMFZID([]byte("phys")); err != nil {
		t.Fatal(err)
	}
}

// TestKernelModelPulledLink: a pulled link reads status 0 and refuses
// service and MFM writes with ErrLinkDown.
func TestKernelModelPulledLink(t *testing.T) {
	m, a, _ := modelPair(t)
	ka := openModelKernel(t, a, true)
	if err := ka.SetMFZID([]byte("phys")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "link up", func() bool { return ka.Status().Up(packet.ET) })
	if err := m.SetLink(a, packet.ET, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "link down", func() bool { return ka.Status()[packet.ET] == LinkDown })
	if n := a.Nibble(packet.ET); n != 0 {
		t.Fatalf("nibble %d", n)
	}
	for _, p := range [][]byte{service(t, packet.ET, "x"), mfmPacket(t, packet.ET, "x")} {
		if err := ka.WritePacket(p); !errors.Is(err, ErrLinkDown) || !strings.Contains(err.Error(), "ET") {
			t.Fatalf("write % x on a pulled link: %v, want ErrLinkDown", p, err)
		}
	}
}

// TestKernelModelHellosDoNotHurry: an idle reader polls on its
// PollInterval grid however many hellos come and go. A hello in or out
// every 50 ms used to start the backoff from 200µs each time: eight polls
// per hello instead of one per interval.
func TestKernelModelHellosDoNotHurry(t *testing.T) {
	_, a, b := modelPair(t)
	const every = 100 * time.Millisecond
	ka := openModelKernelWith(t, a, false, func(c *KernelConfig) { c.PollInterval = every })
	k := ka.Kernel
	kb := openModelKernel(t, b, false)
	hello, err := packet.AppendService(nil, packet.WT, packet.ServiceLiveness, []byte{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	ours, err := packet.AppendService(nil, packet.ET, packet.ServiceLiveness, []byte{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	// Past the backoff's ramp (200µs doubling to 100 ms: ten polls).
	end := time.Now().Add(15 * time.Second)
	for k.Stats().Polls < 12 {
		if time.Now().After(end) {
			t.Fatal("the reader did not poll 12 times within 15s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	p0, t0 := k.Stats().Polls, time.Now()
	const hellos = 20
	for range hellos {
		if err := kb.WritePacket(hello); err != nil {
			t.Fatal(err)
		}
		if err := k.WritePacket(ours); err != nil {
			t.Fatal(err)
		}
		time.Sleep(every / 2) // hellos twice an interval, each way
	}
	for range hellos {
		ka.next(t)
		kb.next(t)
	}
	polls, elapsed := k.Stats().Polls-p0, time.Since(t0)
	// One poll a grid point at most (fewer on a loaded machine); the old
	// reader made about eight per hello here.
	if limit := uint64(elapsed/every) + 3; polls > limit {
		t.Fatalf("%d polls in %v with a hello every %v, want at most %d (one per %v)", polls, elapsed, every/2, limit, every)
	}
}
