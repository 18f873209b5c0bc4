//go:build !(arm || 386 || mips || mipsle)

package itcmodel_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/itcmodel"
	"github.com/t2tiles/itcd/itc/packet"
)

// openKernel opens the production kernel backend on tile t of the
// model: both service devices, and the MFM devices left alone.
func openKernel(t *testing.T, tile *itcmodel.Tile) *dev.Kernel {
	t.Helper()
	k, err := dev.OpenKernel(dev.KernelConfig{
		Path:           tile.DevPath("bulk"),
		FlashPath:      tile.DevPath("flash"),
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

// TestKernelBackendOverTheModel runs the production kernel backend on
// two model tiles: it opens the devices, reads the status file and reads
// and writes packets through real system calls. Service packets of the
// 63-service draft (byte 1 bit 7 clear) land in flash, which the backend
// reads as well as bulk (once it read only bulk and heard nothing).
func TestKernelBackendOverTheModel(t *testing.T) {
	m, a, b := pair(t, itcmodel.Config{})
	ka, kb := openKernel(t, a), openKernel(t, b)
	waitFor(t, "links up in the backends", func() bool {
		return ka.Status()[packet.ET] == dev.LinkMFM && kb.Status()[packet.WT] == dev.LinkMFM
	})
	for _, name := range []string{"bulk", "flash"} {
		if h, ok := a.Holder(name); !ok || h.Pid == 0 {
			t.Errorf("a's %s holder %+v %v, want the backend", name, h, ok)
		}
	}

	// Into b from its WT link, byte 1 bit 7 set: lands in b's bulk, which
	// b's backend reads. (The backend's WritePacket refuses that byte 1,
	// RSV1 set, so the PRU hands it up directly.)
	pru, _ := itcmodel.PRUOf(packet.WT)
	b.Inject(pru, []byte{0x86, 0x81, 'b', 'u', 'l', 'k'})
	if got := readKernel(t, kb); !bytes.Equal(got, []byte{0x86, 0x81, 'b', 'u', 'l', 'k'}) {
		t.Fatalf("b's backend read % x", got)
	}

	// b -> a through b's backend: a 63-service packet (service 8) lands
	// in a's flash, and a's backend reads it there.
	svc, err := packet.AppendService(nil, packet.WT, 8, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if err := kb.WritePacket(svc); err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(svc)
	want[0] = want[0]&^7 | byte(packet.ET)
	if got := readKernel(t, ka); !bytes.Equal(got, want) {
		t.Fatalf("a's backend read % x, want % x", got, want)
	}
	if n := a.Queued("flash"); n != 0 {
		t.Fatalf("a's flash still holds %d packets", n)
	}

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
