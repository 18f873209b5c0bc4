package dev

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
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
// poller through syscall.RawConn, as the net package itself does. What
// the net package did besides is done here: an IPv4 neighbour of an IPv6
// socket goes v4-mapped, and an IPv6 zone (link-local neighbours) is the
// sockaddr's scope id both ways.

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
	rzone map[uint32]string // interface names by index, for zones
	// The writer's, under wmu. The frame is copied: a caller's buffer
	// handed to the call would escape to the heap.
	wmu    sync.Mutex
	wframe [MaxFrameLen]byte
	wn     int
	wsa4   unix.RawSockaddrInet4
	wsa6   unix.RawSockaddrInet6
	wto6   bool // the address is wsa6's
	werr   error
	wfunc  func(fd uintptr) bool
	wzone  map[string]uint32 // interface indexes by name, for zones
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
			r.rn, r.rfrom, r.rerr = int(n), r.addrPortOf(&sa), nil
			return true
		case unix.EINTR: // interrupted before it did anything: again
		case unix.EAGAIN:
			return false
		default:
			r.rn, r.rfrom, r.rerr = 0, netip.AddrPort{}, e
			return true
		}
	}
}

// write sends datagram b, at most MaxFrameLen bytes, to to, waiting
// while the socket's buffer is full. Any number of goroutines may call
// it.
func (r *rawUDP) write(b []byte, to netip.AddrPort) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if len(b) > len(r.wframe) {
		return fmt.Errorf("%d-byte datagram, over the %d of a frame", len(b), MaxFrameLen)
	}
	a := to.Addr()
	switch {
	case r.six:
		r.wsa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()} // IPv4 v4-mapped
		putPort(&r.wsa6.Port, to.Port())
		if z := a.Zone(); z != "" {
			id, err := r.zoneIndex(z)
			if err != nil {
				return err
			}
			r.wsa6.Scope_id = id
		}
		r.wto6 = true
	case a.Unmap().Is4():
		r.wsa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.Unmap().As4()}
		putPort(&r.wsa4.Port, to.Port())
		r.wto6 = false
	default:
		return errFamily
	}
	r.wn, r.werr = copy(r.wframe[:], b), nil
	if err := r.rc.Write(r.wfunc); err != nil {
		return err
	}
	return r.werr
}

// zoneIndex is the index of the interface a zone names, remembered.
// Under wmu.
func (r *rawUDP) zoneIndex(zone string) (uint32, error) {
	if id, ok := r.wzone[zone]; ok {
		return id, nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, fmt.Errorf("zone %q: %w", zone, err)
	}
	if r.wzone == nil {
		r.wzone = map[string]uint32{}
	}
	r.wzone[zone] = uint32(ifi.Index)
	return uint32(ifi.Index), nil
}

// tryWrite makes one send call; false asks the poller to wait.
func (r *rawUDP) tryWrite(fd uintptr) bool {
	p := unsafe.Pointer(&r.wframe[0])
	sa, salen := unsafe.Pointer(&r.wsa4), uintptr(unix.SizeofSockaddrInet4)
	if r.wto6 {
		sa, salen = unsafe.Pointer(&r.wsa6), unix.SizeofSockaddrInet6
	}
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(p), uintptr(r.wn), 0, uintptr(sa), salen)
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
// (no neighbour's) for any other family. Reader only.
func (r *rawUDP) addrPortOf(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), getPort(&p.Port))
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		a := netip.AddrFrom16(p.Addr)
		if p.Scope_id != 0 {
			a = a.WithZone(r.zoneName(p.Scope_id))
		}
		return netip.AddrPortFrom(a, getPort(&p.Port))
	}
	return netip.AddrPort{}
}

// zoneName is the name of interface id, remembered; its number if it has
// none. The map holds at most one entry per interface of the machine.
func (r *rawUDP) zoneName(id uint32) string {
	if z, ok := r.rzone[id]; ok {
		return z
	}
	z := strconv.FormatUint(uint64(id), 10)
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		z = ifi.Name
	}
	if r.rzone == nil {
		r.rzone = map[uint32]string{}
	}
	r.rzone[id] = z
	return z
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
