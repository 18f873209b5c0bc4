package tilegrid

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// Tiles' UDP ports come from below the kernel's ephemeral range. A port
// must stay free while its tile is not bound to it: while a process tile
// starts (the grid closes the socket, the child binds the port again) and
// while a stopped tile waits to restart. Any program binding port 0 may be
// given an ephemeral port in such a window (tests on a busy machine do so
// all the time); nothing is given a port outside that range unless it asks
// for it by number.

// portRange returns the ports the grid picks from: [lo, hi).
func portRange() (lo, hi int) {
	eph := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				eph = v
			}
		}
	}
	return max(1024, eph/2), eph
}

// bindPort binds a UDP socket on 127.0.0.1 to a free port below the
// ephemeral range, or to any port if none is free there.
func bindPort() (*net.UDPConn, error) {
	lo, hi := portRange()
	if hi-lo >= 64 {
		start := rand.IntN(hi - lo)
		for i := 0; i < min(hi-lo, 4096); i++ {
			p := lo + (start+i)%(hi-lo)
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
			if err == nil {
				return c, nil
			}
		}
	}
	return net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
}
