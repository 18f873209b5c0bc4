//go:build !(arm || 386 || mips || mipsle)

package itcmodel_test

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/itcmodel"
	"github.com/t2tiles/itcd/itc/packet"
)

// fifoLine returns the fifos file's line for buffer name.
func fifoLine(t *testing.T, tile *itcmodel.Tile, name string) string {
	t.Helper()
	text := readFile(t, tile.SysPath("fifos"))
	lines := strings.Split(text, "\n")
	if lines[0] != "name bin bout min mout len avail cdrops tdrops" || len(lines) != 18 {
		t.Fatalf("fifos file:\n%s", text)
	}
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	t.Fatalf("no line for %s in\n%s", name, text)
	return ""
}

// TestInboundFIFODrops: b's flash fills while nobody reads it (its FIFO
// fills whether or not it is open): 64 packets of 255 bytes take all 16 KB,
// the next is dropped and counted, and reading one makes room again.
func TestInboundFIFODrops(t *testing.T) {
	_, a, b := pair(t, itcmodel.Config{})
	aBulk := open(t, a.DevPath("bulk"), unix.O_RDWR|unix.O_NONBLOCK)
	p := pkt(0x82, 0x08, 255)
	for i := range 66 {
		p[2] = byte(i)
		write(t, aBulk, p) // the sender never knows
	}
	if got, want := fifoLine(t, b, "mUserIB-itc!flash"), "mUserIB-itc!flash 16384 0 0 0 16384 0 2 2"; got != want {
		t.Errorf("full flash FIFO: %q, want %q", got, want)
	}
	bFlash := open(t, b.DevPath("flash"), unix.O_RDWR|unix.O_NONBLOCK)
	if got := readPacket(t, bFlash); got[2] != 0 {
		t.Fatalf("first packet read is number %d, want 0", got[2])
	}
	p[2] = 66
	write(t, aBulk, p)
	if got, want := fifoLine(t, b, "mUserIB-itc!flash"), "mUserIB-itc!flash 16640 256 256 256 16384 0 0 2"; got != want {
		t.Errorf("after one read and one more packet: %q, want %q", got, want)
	}
	for want := 1; want <= 66; want++ {
		if want == 64 || want == 65 {
			continue // dropped
		}
		if got := readPacket(t, bFlash); int(got[2]) != want {
			t.Fatalf("read packet %d, want %d", got[2], want)
		}
	}
	expectEmpty(t, bFlash)
	if got := statistics(t, b)[packet.WT]["svcprcvd"]; got != 67 {
		t.Errorf("svcprcvd %d, want 67: dropped packets count as received", got)
	}
}

// TestOutboundQueueFull: with a's PRU 0 stalled, its bulk queue takes 64
// packets of 255 bytes, then writes fail with EAGAIN; a blocking write
// (O_NONBLOCK cleared with fcntl after open) waits until the PRU moves.
func TestOutboundQueueFull(t *testing.T) {
	m, a, b := pair(t, itcmodel.Config{})
	aFlash := open(t, a.DevPath("flash"), unix.O_RDWR|unix.O_NONBLOCK)
	a.StallPRU(0, true)
	p := pkt(0x82, 0x81, 255)
	for range 64 {
		write(t, aFlash, p)
	}
	if _, err := unix.Write(aFlash, p); err != unix.EAGAIN {
		t.Fatalf("write to a full queue: %v, want EAGAIN", err)
	}
	if _, err := unix.Write(aFlash, []byte{0x82, 0x81}); err != unix.EAGAIN {
		t.Fatalf("small write to a full queue: %v, want EAGAIN", err)
	}
	if got, want := fifoLine(t, a, "mBulkOB-itc!pru!0"), "mBulkOB-itc!pru!0 16384 0 0 0 16384 0 0 0"; got != want {
		t.Errorf("full queue: %q, want %q", got, want)
	}
	flags, err := unix.FcntlInt(uintptr(aFlash), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(uintptr(aFlash), unix.F_SETFL, flags&^unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for {
			_, err := unix.Write(aFlash, p)
			if err != unix.EINTR { // the Go runtime's signals interrupt the wait
				done <- err
				return
			}
		}
	}()
	waitFor(t, "the write waiting", func() bool { return itcmodel.Waiting(m) == 1 })
	select {
	case err := <-done:
		t.Fatalf("blocking write returned %v while the PRU was stalled", err)
	default:
	}
	a.StallPRU(0, false)
	if err := <-done; err != nil {
		t.Fatalf("blocking write: %v", err)
	}
	if n := b.Queued("bulk"); n != 64 {
		t.Errorf("b holds %d packets, want 64: 65 sent, the first 64 fill its FIFO", n)
	}
}

// TestBlockingRead: without O_NONBLOCK a read waits for a packet.
func TestBlockingRead(t *testing.T) {
	m, a, b := pair(t, itcmodel.Config{})
	bBulk := open(t, b.DevPath("bulk"), unix.O_RDWR)
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 255)
		for {
			n, err := unix.Read(bBulk, buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				t.Errorf("blocking read: %v", err)
				got <- nil
				return
			}
			got <- buf[:n]
			return
		}
	}()
	waitFor(t, "the read waiting", func() bool { return itcmodel.Waiting(m) == 1 })
	aFlash := open(t, a.DevPath("flash"), unix.O_RDWR|unix.O_NONBLOCK)
	write(t, aFlash, []byte{0x82, 0x81, 'w'})
	if p := <-got; string(p) != "\x86\x81w" {
		t.Fatalf("blocking read got % x", p)
	}
}
