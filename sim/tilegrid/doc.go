// Package tilegrid runs a simulated grid of T2 tiles on one machine: every
// tile is the real daemon, built by tile.New exactly as `itcd run` builds
// it, and tiles are joined by real UDP sockets on 127.0.0.1 whose links the
// UDP device shapes like T2 links (rate, queues, delay, loss, duplication,
// corruption, cut). `itcd sim` is its command line; other packages' tests
// use it to run the whole system.
//
// # Geometry
//
// A grid is W x H tiles in the T2 brick wall. Rows y = 0..H-1 run from top
// to bottom and odd rows are shifted half a tile to the right. A tile is
// named "t-X-Y" (column X, row Y, from 0) everywhere: its directory, the
// display, the JSON report. Its neighbours:
//
//	even row y: NE (x, y-1)   NW (x-1, y-1)   SE (x, y+1)   SW (x-1, y+1)
//	odd row y:  NE (x+1, y-1) NW (x, y-1)     SE (x+1, y+1) SW (x, y+1)
//	any row:    ET (x+1, y)   WT (x-1, y)
//
// so a 3x3 grid looks like
//
//	t-0-0   t-1-0   t-2-0
//	    t-0-1   t-1-1   t-2-1
//	t-0-2   t-1-2   t-2-2
//
// Tiles at an edge have fewer neighbours; the top-left corner has two (ET
// and SE). If B is A's neighbour on d, A is B's on d.Opposite().
//
// # Links
//
// A link between A and B is two independent directions: A's outbound
// profile on d (what B receives) and B's on d.Opposite(). SetProfile sets
// one direction, SetLink both, Cut and Restore set Cut on both ends. The
// profile of every direction is kept by the grid and re-applied when a
// tile restarts.
//
// # Tiles
//
// Each tile has Dir/t-X-Y/state (its identity and store, kept across
// restarts), Dir/t-X-Y/run (mfm.sock, service.sock, control.sock: `itcd
// status --run-dir` works on it as on a real tile) and Dir/t-X-Y/itcd.log.
// Dir/grid.json lists the tiles, their addresses and directories. New
// binds every tile's UDP port first, so each tile's link map is known
// before any starts, and holds the sockets until Close: an in-process tile
// adopts a copy of its bound socket, a process tile (Config.Procs)
// inherits it as file descriptor 3 (`itcd run --udp-fd 3`). A stopped
// tile restarts on the same port with the same state dir.
//
// Each run of a tile is an instance (tile.go): inProcess (inprocess.go)
// asks the daemon directly, process (proc.go) over its control socket,
// polling its status four times a second and deriving its Tile Events from
// the changes. The Tile asks its current instance for status, link
// profiles and counters without knowing which kind it is; New picks the
// kind once (newLauncher).
//
// # Watching
//
// Snapshot reads every tile's status; Events is the log of every Tile
// Event (neighbour connect and disconnect) any tile published; WaitFor,
// WaitAllLive, WaitLink and WaitEvent poll with a deadline. Progress on a
// pushed file comes from Config.Progress, a reader of the tile's status,
// so it works alike for in-process and process tiles. LowerBound and
// MultipathBound of Geometry give the physical limits for spreading a file.
package tilegrid
