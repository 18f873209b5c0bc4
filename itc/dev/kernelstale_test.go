// go-fuse, under the model, does not build for 32-bit targets (its splice
// package takes syscall.Splice's count as int64), so neither do these
// tests; the unit tests built for linux/arm run without them.

//go:build !(arm || 386 || mips || mipsle)

package dev

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/syncbuf"
	"github.com/t2tiles/itcd/itc/itcmodel"
	"github.com/t2tiles/itcd/itc/packet"
	"golang.org/x/sys/unix"
)

// Tests of the MFM devices' recovery after another thread or process
// writes mfzid, on the model (helpers in kernelmodel_test.go).

// TestKernelModelForeignMFZIDWrite: another thread writes the mfzid of
// b mid-run. b's devices turn stale; its Kernel reopens them, finds the
// module refusing (ESRCH, the writer changed), writes its own identity
// back and opens them again. Service traffic loses nothing meanwhile,
// and MFM traffic flows again.
func TestKernelModelForeignMFZIDWrite(t *testing.T) {
	_, a, b := modelPair(t)
	ka, kb := openModelKernel(t, a, true), openModelKernel(t, b, true)
	for _, k := range []*modelKernel{ka, kb} {
		if err := k.SetMFZID([]byte("phys")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "compatible", func() bool { return b.Compatible(packet.WT) })

	const n = 200
	foreign := make(chan time.Time, 1)
	go func() { // sends n service packets, with the foreign write halfway
		for i := range n {
			if i == n/2 {
				foreign <- foreignMFZIDWrite(t, b, "intruder")
			}
			p := service(t, packet.ET, fmt.Sprint(i))
			for {
				err := ka.WritePacket(p)
				if err == nil {
					break
				}
				if !errors.Is(err, ErrWouldBlock) {
					t.Errorf("service write %d: %v", i, err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}
	}()
	var wrote time.Time
	for i := range n {
		got := kb.next(t)
		if want := arrived(service(t, packet.ET, fmt.Sprint(i)), packet.WT); !bytes.Equal(got, want) {
			t.Fatalf("service packet %d: got % x, want % x", i, got, want)
		}
		if i == n/2 {
			wrote = <-foreign
		}
	}
	waitFor(t, "b's own mfzid written back", func() bool {
		tid, _, id := b.MFZID()
		return tid == kb.mfm.tid && id == "phys" && kb.Stats().MFZIDRewrites == 1
	})
	// MFM flows again both ways; packets written while the devices were
	// stale or the handshake restarted may be lost, so resend until one
	// arrives.
	for _, dir := range []struct {
		from, to *modelKernel
		d        packet.Dir
	}{{ka, kb, packet.ET}, {kb, ka, packet.WT}} {
		p := mfmPacket(t, dir.d, "again")
		waitFor(t, "MFM packet through", func() bool {
			dir.from.WritePacket(p)
			select {
			case got := <-dir.to.in:
				return bytes.Equal(got, arrived(p, dir.d.Opposite()))
			case <-time.After(20 * time.Millisecond):
				return false
			}
		})
	}
	s := kb.Stats()
	t.Logf("MFM recovered %v after the foreign mfzid write (%d reopens, %d rewrites)", time.Since(wrote).Round(time.Millisecond), s.MFMReopens, s.MFZIDRewrites)
	if s.MFMReopens == 0 {
		t.Errorf("no reopen counted: %+v", s)
	}
	if !strings.Contains(kb.log.String(), "written by another thread") {
		t.Errorf("foreign write not logged:\n%s", kb.log.String())
	}

	// A writer that keeps at it gets the tile's own identity written back
	// again, at most once a second (mfzidRewriteGap).
	foreignMFZIDWrite(t, b, "intruder")
	waitFor(t, "b's own mfzid written back again", func() bool {
		tid, _, id := b.MFZID()
		return tid == kb.mfm.tid && id == "phys" && kb.Stats().MFZIDRewrites == 2
	})
}

// foreignMFZIDWrite writes id to tile's mfzid from a new OS thread, which
// ends with it, and returns when it did.
func foreignMFZIDWrite(t *testing.T, tile *itcmodel.Tile, id string) time.Time {
	done := make(chan time.Time)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends here
		if err := writeFile(tile.SysPath("mfzid"), id); err != nil {
			t.Errorf("foreign mfzid write: %v", err)
		}
		done <- time.Now()
	}()
	return <-done
}

// TestKernelModelStaleWrite: with no reader to notice, the first MFM
// write after a foreign mfzid write meets ESTALE, fails with
// ErrMFMUnavailable and starts the reopen; writes then succeed again.
// Close stops the owning thread and releases every device.
func TestKernelModelStaleWrite(t *testing.T) {
	_, a, b := modelPair(t)
	ka, err := OpenKernel(modelConfig(a, true, &syncbuf.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	defer ka.Close()
	kb := openModelKernel(t, b, true)
	for _, k := range []PhysicsIdentity{ka, kb} {
		if err := k.SetMFZID([]byte("phys")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "compatible", func() bool { return a.Compatible(packet.ET) })
	foreignMFZIDWrite(t, a, "intruder")
	p := mfmPacket(t, packet.ET, "x")
	if err := ka.WritePacket(p); !errors.Is(err, ErrMFMUnavailable) || !strings.Contains(err.Error(), "ESTALE") {
		t.Fatalf("MFM write on a stale device: %v, want ErrMFMUnavailable (reopening)", err)
	}
	waitFor(t, "MFM through after the reopen", func() bool {
		if ka.WritePacket(p) != nil {
			return false
		}
		select {
		case got := <-kb.in:
			return bytes.Equal(got, arrived(p, packet.WT))
		case <-time.After(20 * time.Millisecond):
			return false
		}
	})
	if s := ka.Stats(); s.MFZIDRewrites != 1 {
		t.Fatalf("stats %+v, want one rewrite", s)
	}
	if err := ka.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ka.SetMFZID([]byte("phys")); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetMFZID after Close: %v", err)
	}
	waitFor(t, "every device released", func() bool {
		for _, name := range []string{"bulk", "flash", "mfm/NE", "mfm/ET", "mfm/SE", "mfm/SW", "mfm/WT", "mfm/NW"} {
			if _, held := a.Holder(name); held {
				return false
			}
		}
		return true
	})
}

// An identity written whose MFM devices could not be opened (one held by
// another program) is tried again, as after ESTALE, so MFM comes back once
// the holder lets go, without another SetMFZID.
func TestKernelModelRetriesAfterFailedOpen(t *testing.T) {
	_, a, _ := modelPair(t)
	hold := make(chan int)
	release := make(chan struct{})
	go func() {
		runtime.LockOSThread() // the thread that wrote mfzid may open MFM devices
		defer runtime.UnlockOSThread()
		writeFile(a.SysPath("mfzid"), "mfmt2")
		fd, _ := unix.Open(a.DevPath("mfm/NW"), unix.O_RDWR|unix.O_CLOEXEC, 0)
		hold <- fd
		<-release
		unix.Close(fd)
	}()
	<-hold
	ka := openModelKernel(t, a, true)
	if err := ka.SetMFZID([]byte("phys")); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("SetMFZID with mfm/NW held: %v, want EBUSY", err)
	}
	close(release)
	waitFor(t, "MFM devices open again without another SetMFZID", func() bool {
		return !errors.Is(ka.WritePacket(mfmPacket(t, packet.ET, "x")), ErrMFMUnavailable)
	})
}
