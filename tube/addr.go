package tube

import (
	"strconv"

	"github.com/t2tiles/itcd/itc/packet"
)

// Network is the name Addr.Network returns: intertile communication.
const Network = "itc"

// Addr is one end of a tube: the link it runs over (as seen from this
// tile), its port, and for the far end the far tile's identity as
// `itcd status` shows it.
type Addr struct {
	Dir  packet.Dir
	Port uint16
	Tile string // empty for this tile's end
}

var _ interface{ Network() string } = Addr{}

// Network implements net.Addr.
func (Addr) Network() string { return Network }

// String implements net.Addr: "ET:7", or "5f2c9a01@ET:7" with a tile.
func (a Addr) String() string {
	s := a.Dir.String() + ":" + strconv.Itoa(int(a.Port))
	if a.Tile != "" {
		return a.Tile + "@" + s
	}
	return s
}
