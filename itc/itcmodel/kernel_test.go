package itcmodel_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/itcmodel"
	"github.com/t2tiles/itcd/itc/packet"
)

// openKernel opens today's production kernel backend on tile t of the
// model, without MFM devices.
func openKernel(t *testing.T, tile *itcmodel.Tile) *dev.Kernel {
	t.Helper()
	k, err := dev.OpenKernel(dev.KernelConfig{
		Path:           tile.DevPath("bulk"),
		StatusPath:     tile.SysPath("status"),
		StatusInterval: 10 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// readKernel reads one packet from k within the deadline. A read that
// times out is ended by k's Close at cleanup.
func readKernel(t *testing.T, k *dev.Kernel) []byte {
	t.Helper()
	type result struct {
		p   []byte
		err error
	}
	c := make(chan result, 1)
	go func() {
		buf := make([]byte, packet.MaxLen)
		n, err := k.ReadPacket(buf)
		c <- result{buf[:n], err}
	}()
	select {
	case r := <-c:
		if r.err != nil {
			t.Fatalf("ReadPacket: %v", r.err)
		}
		return r.p
	case <-time.After(deadline):
		t.Fatalf("ReadPacket: nothing within %v", deadline)
	}
	return nil
}

// TestKernelBackendOverTheModel runs the production kernel backend, as
// it is today, on two model tiles: it opens the devices, reads the
// status file and reads and writes packets through real system calls.
// It also shows the backend's gap on a real tile: it reads only bulk,
// and every packet of the 63-service draft (byte 1 bit 7 clear) lands in
// flash.
func TestKernelBackendOverTheModel(t *testing.T) {
	m, a, b := pair(t, itcmodel.Config{})
	ka, kb := openKernel(t, a), openKernel(t, b)
	waitFor(t, "links up in the backends", func() bool {
		return ka.Status()[packet.ET] == dev.LinkMFM && kb.Status()[packet.WT] == dev.LinkMFM
	})
	if h, ok := a.Holder("bulk"); !ok || h.Pid == 0 {
		t.Errorf("a's bulk holder %+v %v, want the backend", h, ok)
	}

	// a -> b, byte 1 bit 7 set: lands in b's bulk, which b's backend
	// reads. The backend's WritePacket refuses that byte 1 (RSV1 set), so
	// it is written on a's flash device, which also routes by DIR.
	aFlash := open(t, a.DevPath("flash"), unix.O_RDWR|unix.O_NONBLOCK)
	write(t, aFlash, []byte{0x82, 0x81, 'b', 'u', 'l', 'k'})
	if got := readKernel(t, kb); !bytes.Equal(got, []byte{0x86, 0x81, 'b', 'u', 'l', 'k'}) {
		t.Fatalf("b's backend read % x", got)
	}

	// b -> a through b's backend: a 63-service packet (service 8).
	svc, err := packet.AppendService(nil, packet.WT, 8, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if err := kb.WritePacket(svc); err != nil {
		t.Fatal(err)
	}
	// Then a marker with bit 7 set, after it on the same link (links do
	// not reorder), from b's flash device.
	bFlash := open(t, b.DevPath("flash"), unix.O_RDWR|unix.O_NONBLOCK)
	write(t, bFlash, []byte{0x86, 0x81, 'm', 'a', 'r', 'k'})
	if got := readKernel(t, ka); !bytes.Equal(got[2:], []byte("mark")) {
		t.Fatalf("a's backend read % x, want the marker", got)
	}
	if n := a.Queued("flash"); n != 1 {
		t.Fatalf("a's flash holds %d packets, want the service packet", n)
	}
	got := readPacket(t, aFlash)
	want := bytes.Clone(svc)
	want[0] = want[0]&^7 | byte(packet.ET)
	if !bytes.Equal(got, want) {
		t.Fatalf("a's flash holds % x, want % x", got, want)
	}
	t.Logf("service packet % x from b's backend landed in a's /dev/itc/flash, which a's backend never reads; "+
		"it read only the marker sent after it to bulk (byte 1 bit 7 set)", got)

	// A pulled link reaches the backend as the status file changes.
	if err := m.SetLink(a, packet.ET, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "link down in a's backend", func() bool { return !ka.Status().Up(packet.ET) })
	svc[0] = svc[0]&^7 | byte(packet.ET)
	if err := ka.WritePacket(svc); !errors.Is(err, dev.ErrLinkDown) {
		t.Fatalf("write on a pulled link: %v, want ErrLinkDown (EHOSTUNREACH)", err)
	}
}
