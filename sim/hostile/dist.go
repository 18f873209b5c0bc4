package hostile

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/t2tiles/itcd/services/mfz"
	"github.com/t2tiles/itcd/services/mfz/dist"
)

// Answering the daemon's service 8. Both types below are handlers: call
// their Handle from Config.Handler (with anything else the test does).

// manifestSeg is the most signed-manifest bytes one MANIFEST carries.
const manifestSeg = 241

// Grabbed is a signed file's announcement and signed manifest, as a
// neighbour gets them from a tile.
type Grabbed struct {
	Handle  uint8 // the tile's handle for the file
	Name    string
	Version int64
	Blocks  uint16
	ID      [8]byte
	Signed  []byte // manifest || signature
}

// ManifestGrabber fetches the signed manifest of one name from the daemon:
// on the daemon's ANNOUNCE of the name it asks for the manifest
// (GET_MANIFEST) and collects the MANIFEST segments, asking again from
// the first missing byte when a segment is out of place or the daemon
// announces again.
type ManifestGrabber struct {
	name string
	done chan struct{}

	mu     sync.Mutex
	handle uint8
	ann    Grabbed
	asked  bool
	buf    []byte
	total  uint32
	got    bool
}

// NewManifestGrabber returns a grabber of name's manifest.
func NewManifestGrabber(name string) *ManifestGrabber {
	return &ManifestGrabber{name: name, done: make(chan struct{})}
}

// Handle looks at one datagram from the daemon.
func (g *ManifestGrabber) Handle(n *Neighbour, r *Received) {
	m, err := r.Dist()
	if err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.got {
		return
	}
	switch {
	case m.Type == dist.MsgAnnounce && m.Name == g.name && m.Flags&2 == 0:
		// Complete or partial (a source super-seeding announces a
		// pushed file as partial at first): either serves its manifest.
		if !g.asked || m.ID != g.ann.ID || m.Handle != g.handle {
			g.ann = Grabbed{Handle: m.Handle, Name: m.Name, Version: m.Version, Blocks: m.Blocks, ID: m.ID}
			g.handle, g.buf, g.total, g.asked = m.Handle, g.buf[:0], 0, true
		}
		n.SendDist(&dist.Message{Type: dist.MsgGetManifest, Handle: g.handle, Offset: uint32(len(g.buf))})
	case m.Type == dist.MsgManifest && g.asked && m.Handle == g.handle:
		if int(m.Offset) != len(g.buf) || g.total != 0 && m.Total != g.total {
			n.SendDist(&dist.Message{Type: dist.MsgGetManifest, Handle: g.handle, Offset: uint32(len(g.buf))})
			return
		}
		g.total = m.Total // ParseMessage bounded it by the format's limit
		g.buf = append(g.buf, m.Data...)
		if len(g.buf) == int(g.total) {
			g.ann.Signed = bytes.Clone(g.buf)
			g.got = true
			close(g.done)
		}
	}
}

// Wait waits for the whole manifest.
func (g *ManifestGrabber) Wait(ctx context.Context) (Grabbed, error) {
	select {
	case <-ctx.Done():
		return Grabbed{}, fmt.Errorf("hostile: manifest of %s not grabbed: %w", g.name, ctx.Err())
	case <-g.done:
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ann, nil
}

// DistServer announces one signed file to the daemon as complete and
// serves it: the manifest on GET_MANIFEST, blocks chunk by chunk on
// REQUEST. The bytes of each block come from a BlockFunc, which may lie:
// a server with CorruptBlocks serves blocks that pass every chunk's CRC
// and fail the manifest's hash.
type DistServer struct {
	file   Grabbed
	handle uint8
	m      *mfz.Manifest
	block  BlockFunc
	// Withhold makes the server announce the whole file and serve its
	// manifest but never a block: REQUESTs are counted, not answered.
	Withhold bool

	requests, chunks atomic.Uint64
}

// BlockFunc appends the bytes a DistServer serves for block i (size
// bytes) to dst.
type BlockFunc func(dst []byte, i, size int) []byte

// CorruptBlocks serves random bytes of the right length for every block,
// seeded by seed and the block number.
func CorruptBlocks(seed uint64) BlockFunc {
	return func(dst []byte, i, size int) []byte {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		return randBytes(r, dst, size)
	}
}

// NewDistServer serves file under handle (the server's own handle for it).
func NewDistServer(file Grabbed, handle uint8, block BlockFunc) (*DistServer, error) {
	mb, _, err := mfz.SplitSignedManifest(file.Signed)
	if err != nil {
		return nil, fmt.Errorf("hostile: %w", err)
	}
	m, err := mfz.ParseManifest(mb)
	if err != nil {
		return nil, fmt.Errorf("hostile: %w", err)
	}
	return &DistServer{file: file, handle: handle, m: m, block: block}, nil
}

// Announce tells the daemon the server holds the whole file.
func (s *DistServer) Announce(n *Neighbour) error {
	f := &s.file
	return n.SendDist(&dist.Message{Type: dist.MsgAnnounce, Handle: s.handle, Flags: 1, Version: f.Version,
		Blocks: f.Blocks, Held: f.Blocks, ID: f.ID, Name: f.Name})
}

// Served returns how many REQUESTs the server answered and chunks it sent.
func (s *DistServer) Served() (requests, chunks uint64) { return s.requests.Load(), s.chunks.Load() }

// Handle answers one datagram from the daemon.
func (s *DistServer) Handle(n *Neighbour, r *Received) {
	m, err := r.Dist()
	if err != nil {
		return
	}
	switch {
	case m.Type == dist.MsgSync:
		s.Announce(n)
	case m.Type == dist.MsgGetManifest && m.Handle == s.handle:
		total := len(s.file.Signed)
		for off := int(m.Offset); off < total; off += manifestSeg {
			end := min(off+manifestSeg, total)
			n.SendDist(&dist.Message{Type: dist.MsgManifest, Handle: s.handle, Offset: uint32(off), Total: uint32(total), Data: s.file.Signed[off:end]})
		}
	case m.Type == dist.MsgRequest && m.Handle == s.handle:
		size := s.m.BlockLen(int(m.Block))
		if size == 0 {
			n.SendDist(&dist.Message{Type: dist.MsgNotHave, Handle: s.handle, Block: m.Block})
			return
		}
		s.requests.Add(1)
		if s.Withhold {
			return
		}
		body := s.block(nil, int(m.Block), size)
		for c := int(m.Chunk); c < int(m.Chunk)+int(m.Count) && c*dist.ChunkLen < size; c++ {
			end := min((c+1)*dist.ChunkLen, size)
			n.SendDist(&dist.Message{Type: dist.MsgData, Handle: s.handle, Block: m.Block, Chunk: uint16(c), Data: body[c*dist.ChunkLen : end]})
			s.chunks.Add(1)
		}
	}
}
