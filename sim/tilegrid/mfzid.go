package tilegrid

import (
	"fmt"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/tile"
)

// Physics identities in a grid: each tile's comes from Config.MFZID and is
// set on its UDP device, which does the kernel's handshake with each
// neighbour (itc/dev, udpmfz.go). Snapshot reports each link's outcome
// (TileState.Device) and the text picture draws it.

// mfzidOf is tile c's physics identity ("" without Config.MFZID).
func (cfg *Config) mfzidOf(c Coord) string {
	if cfg.MFZID == nil {
		return ""
	}
	return cfg.MFZID(c)
}

// checkMFZID refuses identities longer than the module takes; the daemon's
// config refuses the rest when the tile starts.
func (cfg *Config) checkMFZID() error {
	if cfg.MFZID == nil {
		return nil
	}
	for _, c := range cfg.Coords() {
		if id := cfg.MFZID(c); len(id) > dev.MaxMFZID {
			return fmt.Errorf("tilegrid: %s: physics identity of %d bytes: at most %d", c.Name(), len(id), dev.MaxMFZID)
		}
	}
	return nil
}

// setMFZID gives the in-process tile tt the identity of t, if it has one,
// before its daemon runs (which gives the same from its config), so that
// its neighbours never see it compatible for a moment.
func setMFZID(tt *tile.Tile, t *Tile) error {
	if t.g.cfg.MFZID == nil || tt.UDP == nil {
		return nil
	}
	if err := tt.UDP.SetMFZID([]byte(t.MFZID)); err != nil {
		return fmt.Errorf("tilegrid: %s: %w", t.Name, err)
	}
	return nil
}

// Compatible reports, for the tile's link d, whether its device has the
// neighbour's physics identity equal to its own (MFM packets flow), and
// whether that is known: the tile runs in this process and the link is up.
func (s *TileState) Compatible(d packet.Dir) (compatible, known bool) {
	if s.Device == nil || d > 7 || s.Device[d] == dev.LinkDown {
		return false, false
	}
	return s.Device[d] == dev.LinkMFM, true
}
