package tilegrid

import "net"

// bindPort binds a tile's UDP socket on 127.0.0.1 to a port the kernel
// picks. The grid holds the socket until it closes (Tile.sock), so the
// port stays the tile's across process starts and restarts.
func bindPort() (*net.UDPConn, error) {
	return net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
}
