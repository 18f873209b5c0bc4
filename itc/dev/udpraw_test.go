package dev

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// rawOn opens a UDP socket on addr with its raw reader and writer.
func rawOn(t *testing.T, addr string) (*net.UDPConn, *rawUDP) {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	r, err := newRawUDP(rc)
	if err != nil {
		t.Fatal(err)
	}
	return c, r
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// TestRawUDPRoundTrip: raw calls carry datagrams both ways between
// IPv4 sockets, with the sender's address, and truncate one longer than
// the buffer as recvfrom does.
func TestRawUDPRoundTrip(t *testing.T) {
	ca, a := rawOn(t, "127.0.0.1:0")
	cb, b := rawOn(t, "127.0.0.1:0")
	if a.six {
		t.Fatal("an IPv4 socket taken for IPv6")
	}
	if err := a.write([]byte("hello b"), addrOf(cb)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, from, err := b.read(buf)
	if err != nil || string(buf[:n]) != "hello b" || from != addrOf(ca) {
		t.Fatalf("read %q from %v, %v; want %q from %v", buf[:n], from, err, "hello b", addrOf(ca))
	}
	if err := b.write([]byte("and back, a little long"), from); err != nil {
		t.Fatal(err)
	}
	n, _, err = a.read(buf[:9])
	if err != nil || string(buf[:n]) != "and back," {
		t.Fatalf("read %q, %v; want the first 9 bytes", buf[:n], err)
	}
}

// TestRawUDPIPv6Socket: a socket on an unspecified IPv6 address (the
// net package's dual-stack socket) sends to an IPv4 neighbour v4-mapped,
// and hears it back under a v4-mapped address; an IPv4 socket refuses
// an IPv6 neighbour with errFamily.
func TestRawUDPIPv6Socket(t *testing.T) {
	c6, six := rawOn(t, "[::]:0")
	if !six.six {
		t.Skip("the system gave an IPv4 socket for [::]")
	}
	c4, four := rawOn(t, "127.0.0.1:0")
	to6 := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), addrOf(c6).Port())
	if err := six.write([]byte("v4-mapped"), addrOf(c4)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, from, err := four.read(buf)
	if err != nil || string(buf[:n]) != "v4-mapped" || from != to6 {
		t.Fatalf("read %q from %v, %v", buf[:n], from, err)
	}
	if err := four.write([]byte("back"), to6); err != nil {
		t.Fatal(err)
	}
	n, from, err = six.read(buf)
	if err != nil || string(buf[:n]) != "back" || !from.Addr().Is4In6() || from.Addr().Unmap() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("read %q from %v, %v", buf[:n], from, err)
	}
	if err := four.write([]byte("x"), netip.MustParseAddrPort("[::1]:9")); !errors.Is(err, errFamily) {
		t.Fatalf("IPv6 neighbour of an IPv4 socket: %v, want errFamily", err)
	}
}

// TestRawUDPReadAfterClose: a reader waiting when the socket closes
// gets net.ErrClosed, which ends the device's reader.
func TestRawUDPReadAfterClose(t *testing.T) {
	c, r := rawOn(t, "127.0.0.1:0")
	got := make(chan error, 1)
	go func() {
		_, _, err := r.read(make([]byte, 16))
		got <- err
	}()
	c.Close()
	select {
	case err := <-got:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after close: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the reader still waits 10 s after the close")
	}
}

// TestRawUDPWriteDetails: an IPv6 socket maps an IPv4 neighbour, a send
// allocates nothing (the frame is copied, not kept), a frame over
// MaxFrameLen is refused, and zones go to scope ids and back by the
// interface's name.
func TestRawUDPWriteDetails(t *testing.T) {
	_, six := rawOn(t, "[::]:0")
	c4, four := rawOn(t, "127.0.0.1:0")
	if six.six {
		if err := six.write([]byte("m"), addrOf(c4)); err != nil {
			t.Fatal(err)
		}
		if got := netip.AddrFrom16(six.wsa6.Addr); !got.Is4In6() || got.Unmap() != addrOf(c4).Addr() {
			t.Fatalf("IPv4 neighbour of an IPv6 socket sent to %v, want it v4-mapped", got)
		}
	}
	to := addrOf(c4)
	allocs := testing.AllocsPerRun(100, func() {
		var frame [KeepaliveFrameLen]byte // as sendKeepalive's
		if err := four.write(frame[:], to); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations a send", allocs)
	}
	if err := four.write(make([]byte, MaxFrameLen+1), to); err == nil {
		t.Fatal("a datagram over MaxFrameLen sent")
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no lo:", err)
	}
	four.wmu.Lock()
	id, err := four.zoneIndex("lo")
	_, errNone := four.zoneIndex("no-such-interface0")
	four.wmu.Unlock()
	if err != nil || id != uint32(lo.Index) || errNone == nil {
		t.Fatalf("zone lo: index %d, %v (want %d); no-such-interface0: %v", id, err, lo.Index, errNone)
	}
	if z := four.zoneName(uint32(lo.Index)); z != "lo" {
		t.Fatalf("zone of index %d: %q, want lo", lo.Index, z)
	}
	if z := four.zoneName(999999); z != "999999" {
		t.Fatalf("zone of an unknown index: %q, want its number", z)
	}
}
