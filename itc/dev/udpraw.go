package dev

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Datagrams go in and out by raw system calls on the socket's
// descriptor. The net package's calls announce each one to the Go
// scheduler (entersyscall), and that wakes the runtime's monitor thread
// (sysmon) from its idle sleep, which then naps in 20 us steps until the
// process is idle again: three thread switches for each hello that
// arrives at an idle tile, most of its wakeups (BENCHMARKS.md "Idle
// cost"). The socket is non-blocking (the net package makes every socket
// so), so a call never blocks: EAGAIN hands the wait to the network
// poller through syscall.RawConn, as the net package itself does.

// rawUDP is the socket's descriptor, read and written by raw calls.
type rawUDP struct {
	rc  syscall.RawConn
	six bool // an IPv6 socket (the net package's for an unspecified address): IPv4 goes v4-mapped
	// Owned by the reader (readLoop) between its calls of read.
	rbuf  []byte
	rn    int
	rfrom netip.AddrPort
	rerr  error
	rfunc func(fd uintptr) bool
	// The writer's, under wmu.
	wmu   sync.Mutex
	wbuf  []byte
	wsa4  unix.RawSockaddrInet4
	wsa6  unix.RawSockaddrInet6
	wto6  bool // the address is wsa6's
	werr  error
	wfunc func(fd uintptr) bool
}

func newRawUDP(rc syscall.RawConn) (*rawUDP, error) {
	r := &rawUDP{rc: rc}
	r.rfunc, r.wfunc = r.tryRead, r.tryWrite // made once: a method value allocates
	var serr error
	err := rc.Control(func(fd uintptr) {
		var sa unix.Sockaddr
		sa, serr = unix.Getsockname(int(fd))
		_, r.six = sa.(*unix.SockaddrInet6)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, fmt.Errorf("socket family: %w", err)
	}
	return r, nil
}

// read receives one datagram into b, waiting for one to arrive. Only one
// goroutine may call it.
func (r *rawUDP) read(b []byte) (int, netip.AddrPort, error) {
	r.rbuf = b
	if err := r.rc.Read(r.rfunc); err != nil {
		return 0, netip.AddrPort{}, err
	}
	return r.rn, r.rfrom, r.rerr
}

// tryRead makes one receive call; false asks the poller to wait.
func (r *rawUDP) tryRead(fd uintptr) bool {
	var sa unix.RawSockaddrAny
	salen := uint32(unix.SizeofSockaddrAny)
	var p unsafe.Pointer
	if len(r.rbuf) > 0 {
		p = unsafe.Pointer(&r.rbuf[0])
	}
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(p), uintptr(len(r.rbuf)), 0,
			uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&salen)))
		switch e {
		case 0:
			r.rn, r.rfrom, r.rerr = int(n), addrPortOf(&sa), nil
			return true
		case unix.EINTR:
			// Again at once: the poller's readiness is edge-triggered,
			// so waiting could strand a datagram already queued.
		case unix.EAGAIN:
			return false
		default:
			r.rn, r.rfrom, r.rerr = 0, netip.AddrPort{}, e
			return true
		}
	}
}

// write sends datagram b to to, waiting while the socket's buffer is
// full. Any number of goroutines may call it.
func (r *rawUDP) write(b []byte, to netip.AddrPort) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	a := to.Addr()
	if !r.six {
		a = a.Unmap()
	}
	switch {
	case a.Is4():
		r.wsa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		putPort(&r.wsa4.Port, to.Port())
		r.wto6 = false
	case !r.six:
		return errFamily
	default:
		r.wsa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
		putPort(&r.wsa6.Port, to.Port())
		r.wto6 = true
	}
	r.wbuf, r.werr = b, nil
	err := r.rc.Write(r.wfunc)
	r.wbuf = nil
	if err != nil {
		return err
	}
	return r.werr
}

// tryWrite makes one send call; false asks the poller to wait.
func (r *rawUDP) tryWrite(fd uintptr) bool {
	var p unsafe.Pointer
	if len(r.wbuf) > 0 {
		p = unsafe.Pointer(&r.wbuf[0])
	}
	sa, salen := unsafe.Pointer(&r.wsa4), uintptr(unix.SizeofSockaddrInet4)
	if r.wto6 {
		sa, salen = unsafe.Pointer(&r.wsa6), unix.SizeofSockaddrInet6
	}
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(p), uintptr(len(r.wbuf)), 0, uintptr(sa), salen)
		switch e {
		case 0:
			return true
		case unix.EINTR: // again at once, as in tryRead
		case unix.EAGAIN:
			return false
		default:
			r.werr = e
			return true
		}
	}
}

// errFamily: an IPv6 neighbour for an IPv4 socket.
var errFamily = errors.New("IPv6 neighbour address for an IPv4 socket (listen on an IPv6 or unspecified address)")

// addrPortOf is the address a receive call filled in; the zero AddrPort
// (no neighbour's) for any other family.
func addrPortOf(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), getPort(&p.Port))
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom16(p.Addr), getPort(&p.Port))
	}
	return netip.AddrPort{}
}

// A sockaddr's port is in network byte order whatever the machine's.
func getPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}
