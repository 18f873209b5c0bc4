//go:build !(arm || 386 || mips || mipsle)

package itcmodel_test

import (
	"bytes"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/itcmodel"
	"github.com/t2tiles/itcd/itc/packet"
)

// pkt returns an n-byte packet with header h and byte 1 b1.
func pkt(h byte, b1 byte, n int) []byte {
	p := make([]byte, n)
	p[0] = h
	if n > 1 {
		p[1] = b1
	}
	return p
}

// TestWriteErrnos checks each write the module refuses, and in which order
// it checks (a 300-byte packet for a link that is down is EHOSTUNREACH,
// not EINVAL), on every device that routes.
func TestWriteErrnos(t *testing.T) {
	_, a, _ := pair(t, itcmodel.Config{})
	tests := []struct {
		name string
		p    []byte
		want error
	}{
		{"over 496 bytes", pkt(0x82, 0x81, 497), unix.EINVAL},
		{"over 496 bytes, not standard", pkt(0x02, 0, 497), unix.EINVAL},
		{"STND clear", pkt(0x02, 0x81, 10), unix.ENXIO},
		{"STND clear, over 255", pkt(0x02, 0x81, 300), unix.ENXIO},
		{"link SE never joined", pkt(0x83, 0x81, 10), unix.EHOSTUNREACH},
		{"DIR NT: no link", pkt(0x80, 0x81, 10), unix.EHOSTUNREACH},
		{"DIR ST: no link", pkt(0xA4, 0x20, 10), unix.EHOSTUNREACH},
		{"link down beats over 255", pkt(0x83, 0x81, 300), unix.EHOSTUNREACH},
		{"over 255 on a live link", pkt(0x82, 0x81, 256), unix.EINVAL},
		{"255 bytes", pkt(0x82, 0x81, 255), nil},
		{"a 1-byte packet is sent", pkt(0x82, 0, 1), nil},
		{"local header routes by DIR", pkt(0xC2, 0, 4), nil},
	}
	for _, dev := range []string{"bulk", "flash"} {
		fd := open(t, a.DevPath(dev), unix.O_RDWR|unix.O_NONBLOCK)
		for _, tc := range tests {
			t.Run(dev+"/"+tc.name, func(t *testing.T) {
				n, err := unix.Write(fd, tc.p)
				if tc.want == nil && (err != nil || n != len(tc.p)) {
					t.Fatalf("write: n=%d err=%v, want %d bytes written", n, err, len(tc.p))
				}
				if tc.want != nil && err != tc.want {
					t.Fatalf("write: n=%d err=%v, want %v", n, err, tc.want)
				}
			})
		}
	}
}

// TestRawAndEventDeviceWrites: pru/N takes anything the PRU's bulk queue
// can hold (a record's one-byte length caps that at 255 bytes, so a longer
// write never fits: EAGAIN), the event devices only a single 0 byte.
func TestRawAndEventDeviceWrites(t *testing.T) {
	_, a, _ := pair(t, itcmodel.Config{})
	pru := open(t, a.DevPath("pru/0"), unix.O_RDWR|unix.O_NONBLOCK)
	ev := open(t, a.DevPath("pktevents"), unix.O_RDWR|unix.O_NONBLOCK)
	tests := []struct {
		name string
		fd   int
		p    []byte
		want error
	}{
		{"pru: not standard is fine", pru, []byte("debug"), nil},
		{"pru: 255 bytes", pru, pkt(0x02, 0, 255), nil},
		{"pru: 256 bytes never fit", pru, pkt(0x02, 0, 256), unix.EAGAIN},
		{"pru: over 496", pru, pkt(0x82, 0, 497), unix.EINVAL},
		{"events: one 0 byte", ev, []byte{0}, nil},
		{"events: one other byte", ev, []byte{1}, unix.EINVAL},
		{"events: two bytes", ev, []byte{0, 0}, unix.EPERM},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := unix.Write(tc.fd, tc.p)
			if err != tc.want && !(tc.want == nil && err == nil) {
				t.Fatalf("write: %v, want %v", err, tc.want)
			}
		})
	}
	var buf [64]byte
	if n, err := unix.Read(ev, buf[:]); n != 0 || err != nil {
		t.Errorf("event device read: %d, %v; want 0 bytes (no events recorded)", n, err)
	}
}

func TestOpenErrnos(t *testing.T) {
	_, a, _ := pair(t, itcmodel.Config{})
	for _, dev := range []string{"pru/0", "pru/1", "bulk", "flash", "pktevents", "itcevents"} {
		open(t, a.DevPath(dev), unix.O_RDWR|unix.O_NONBLOCK)
		if err := openErr(a.DevPath(dev), unix.O_RDONLY); err != unix.EBUSY {
			t.Errorf("second open of %s: %v, want EBUSY", dev, err)
		}
	}
	for _, d := range packet.Links {
		if err := openErr(a.DevPath("mfm/"+d.String()), unix.O_RDWR); err != unix.ESRCH {
			t.Errorf("mfm/%v before any mfzid write: %v, want ESRCH", d, err)
		}
	}
	for _, f := range []string{"status", "statistics", "fifos"} {
		if err := openErr(a.SysPath(f), unix.O_WRONLY); err != unix.EACCES {
			t.Errorf("open %s for writing: %v, want EACCES", f, err)
		}
	}
	if err := openErr(a.DevPath("nosuch"), unix.O_RDWR); err != unix.ENOENT {
		t.Errorf("open of a missing device: %v, want ENOENT", err)
	}
	err := writeMFZID(a, string(bytes.Repeat([]byte("z"), 101)))
	if err != unix.EFBIG {
		t.Errorf("101-byte mfzid: %v, want EFBIG", err)
	}
	if err := writeMFZID(a, string(bytes.Repeat([]byte("z"), 100))); err != nil {
		t.Errorf("100-byte mfzid: %v", err)
	}
}

// TestExclusiveOpenHolder: the holder is the opening thread and its
// process, and a close frees the device for an open that follows at once
// (FUSE releases after close returns; the model waits for it).
func TestExclusiveOpenHolder(t *testing.T) {
	_, a, _ := pair(t, itcmodel.Config{})
	var tid int
	var fd int
	onThread(func(id int) {
		tid = id
		var err error
		fd, err = unix.Open(a.DevPath("bulk"), unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Errorf("open: %v", err)
		}
	})
	h, ok := a.Holder("bulk")
	if !ok || h.Pid != os.Getpid() || h.Tid != tid {
		t.Fatalf("holder %+v %v, want pid %d tid %d", h, ok, os.Getpid(), tid)
	}
	if err := openErr(a.DevPath("bulk"), unix.O_RDWR); err != unix.EBUSY {
		t.Fatalf("second open: %v, want EBUSY", err)
	}
	unix.Close(fd)
	for i := range 200 {
		fd, err := unix.Open(a.DevPath("bulk"), unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("open %d right after close: %v", i, err)
		}
		unix.Close(fd)
	}
	waitFor(t, "bulk released", func() bool { _, held := a.Holder("bulk"); return !held })
}

func TestEmptyReadIsEAGAIN(t *testing.T) {
	_, a, _ := pair(t, itcmodel.Config{})
	for _, dev := range []string{"pru/0", "pru/1", "bulk", "flash"} {
		expectEmpty(t, open(t, a.DevPath(dev), unix.O_RDWR|unix.O_NONBLOCK))
	}
}

// TestDupKeepsTheDevice: closing one of two descriptors of an open does
// not free the device while the other is in use.
func TestDupKeepsTheDevice(t *testing.T) {
	_, a, _ := pair(t, itcmodel.Config{})
	fd := open(t, a.DevPath("flash"), unix.O_RDWR|unix.O_NONBLOCK)
	fd2, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd2)
	expectEmpty(t, fd) // still in use
	if err := openErr(a.DevPath("flash"), unix.O_RDWR); err != unix.EBUSY {
		t.Fatalf("open while a dup'd descriptor is in use: %v, want EBUSY", err)
	}
}
