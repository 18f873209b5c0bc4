//go:build !(arm || 386 || mips || mipsle)

package itcmodel_test

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/itcmodel"
	"github.com/t2tiles/itcd/itc/packet"
)

// TestMFZIDFile: "TID TOKEN ID\n", -1 and 0 before any write; the token
// is drawn on the first write and then moves on by one.
func TestMFZIDFile(t *testing.T) {
	_, a, _ := pair(t, itcmodel.Config{Seed: 7})
	if got := readFile(t, a.SysPath("mfzid")); got != "-1 0 \n" {
		t.Fatalf("fresh mfzid %q, want %q", got, "-1 0 \n")
	}
	var tid int
	onThread(func(id int) {
		tid = id
		if err := writeMFZID(a, "phys-1\n"); err != nil {
			t.Error(err)
		}
	})
	var gotTid, token int
	var id string
	text := readFile(t, a.SysPath("mfzid"))
	if _, err := fmt.Sscanf(text, "%d %d %s", &gotTid, &token, &id); err != nil {
		t.Fatalf("mfzid %q: %v", text, err)
	}
	if gotTid != tid || token < 1 || token > 255 || !strings.HasSuffix(text, " phys-1\n\n") {
		t.Fatalf("mfzid %q: want thread %d, a token 1..255 and the id with its newline", text, tid)
	}
	if err := writeMFZID(a, "phys-2"); err != nil {
		t.Fatal(err)
	}
	next := token%255 + 1 // 255 wraps to 1: 0 is skipped
	_, tok2, id2 := a.MFZID()
	if int(tok2) != next || id2 != "phys-2" {
		t.Fatalf("after a second write: token %d id %q, want %d phys-2", tok2, id2, next)
	}
}

// TestMFMOpenNeedsTheWriterThread: only the thread that last wrote mfzid
// opens the MFM devices; another thread of the same process gets ESRCH,
// or EBUSY first while the device is held.
func TestMFMOpenNeedsTheWriterThread(t *testing.T) {
	_, a, _ := pair(t, itcmodel.Config{})
	w, x := newThread(), newThread()
	defer w.stop()
	defer x.stop()
	fds := map[packet.Dir]int{}
	w.do(func(int) {
		if err := writeMFZID(a, "id"); err != nil {
			t.Error(err)
		}
		for _, d := range packet.Links {
			fds[d] = openOn(t, a.DevPath("mfm/"+d.String()), unix.O_RDWR|unix.O_NONBLOCK)
		}
	})
	if h, _ := a.Holder("mfm/NE"); h.Tid != w.tid {
		t.Errorf("mfm/NE holder %+v, want thread %d", h, w.tid)
	}
	x.do(func(int) {
		if err := openErr(a.DevPath("mfm/ET"), unix.O_RDWR); err != unix.EBUSY {
			t.Errorf("open of a held MFM device from another thread: %v, want EBUSY", err)
		}
	})
	w.do(func(int) { unix.Close(fds[packet.ET]) })
	x.do(func(int) {
		if err := openErr(a.DevPath("mfm/ET"), unix.O_RDWR); err != unix.ESRCH {
			t.Errorf("open from another thread: %v, want ESRCH", err)
		}
	})
	w.do(func(int) {
		if err := openErr(a.DevPath("mfm/ET"), unix.O_RDWR); err != nil {
			t.Errorf("reopen by the writer: %v", err)
		}
	})
}

func TestMFMOpenWrongThread(t *testing.T) {
	_, a, _ := pair(t, itcmodel.Config{})
	onThread(func(int) {
		if err := writeMFZID(a, "id"); err != nil {
			t.Error(err)
		}
	})
	onThread(func(int) {
		for _, d := range packet.Links {
			if err := openErr(a.DevPath("mfm/"+d.String()), unix.O_RDWR|unix.O_NONBLOCK); err != unix.ESRCH {
				t.Errorf("mfm/%v from another thread: %v, want ESRCH", d, err)
			}
		}
	})
	// The test goroutine's thread is neither writer.
	if err := openErr(a.DevPath("mfm/ET"), unix.O_RDWR); err != unix.ESRCH {
		t.Errorf("mfm/ET from the test's thread: %v, want ESRCH", err)
	}
}

// TestStaleAfterMFZIDWrite: an mfzid write turns every MFM device stale:
// reads and writes fail ESTALE until it is reopened. Packets waiting in
// its FIFO survive the reopen, as the module does not flush them.
func TestStaleAfterMFZIDWrite(t *testing.T) {
	_, a, b := pair(t, itcmodel.Config{})
	onThread(func(int) {
		if writeMFZID(a, "id") != nil || writeMFZID(b, "id") != nil {
			t.Error("mfzid write failed")
			return
		}
		aET := openOn(t, a.DevPath("mfm/ET"), unix.O_RDWR|unix.O_NONBLOCK)
		bWT, err := unix.Open(b.DevPath("mfm/WT"), unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := unix.Write(aET, []byte{0xA2, 0x40, 'k'}); err != nil {
			t.Error(err)
			return
		}
		if writeMFZID(b, "id") != nil { // same id again: still compatible, but stale
			t.Error("mfzid write failed")
			return
		}
		var buf [255]byte
		if _, err := unix.Read(bWT, buf[:]); err != unix.ESTALE {
			t.Errorf("read of a stale device: %v, want ESTALE", err)
		}
		if _, err := unix.Write(bWT, []byte{0xA6, 0x40}); err != unix.ESTALE {
			t.Errorf("write to a stale device: %v, want ESTALE", err)
		}
		if _, err := unix.Write(aET, []byte{0xA2, 0x40, 'l'}); err != nil {
			t.Errorf("a's device is not stale: %v", err) // only b wrote
		}
		unix.Close(bWT)
		bWT, err = unix.Open(b.DevPath("mfm/WT"), unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Errorf("reopen: %v", err)
			return
		}
		defer unix.Close(bWT)
		for _, want := range []byte{'k', 'l'} {
			n, err := unix.Read(bWT, buf[:])
			if err != nil || n != 3 || buf[2] != want {
				t.Errorf("read after reopen: % x %v, want the packet %q", buf[:max(n, 0)], err, want)
			}
		}
	})
}
