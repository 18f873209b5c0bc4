package tubes

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// A service driven by the test, without its goroutine: the test hands it
// packets (s.packet), runs pump and timers itself at a time it moves, and
// reads what it sent from a fake Host. Nothing runs concurrently, so the
// service's fields can be checked directly.

type sentPacket struct {
	to      packet.Dir
	payload []byte
}

type fakeHost struct {
	self  p2p.TileID
	nbrs  []p2p.Neighbour
	room  [8]int // packets Send still accepts on each link
	sent  []sentPacket
	drain chan struct{}
}

var _ p2p.Host = (*fakeHost)(nil)

func (h *fakeHost) live(d packet.Dir) bool {
	for _, n := range h.nbrs {
		if n.Dir == d {
			return true
		}
	}
	return false
}

func (h *fakeHost) Send(to packet.Dir, payload []byte) error {
	switch {
	case !h.live(to):
		return p2p.ErrNotLive
	case len(payload) > packet.MaxServicePayload:
		return p2p.ErrPayloadTooLong
	case h.room[to] <= 0:
		return p2p.ErrQueueFull
	}
	h.room[to]--
	h.sent = append(h.sent, sentPacket{to, append([]byte(nil), payload...)})
	return nil
}

func (h *fakeHost) Broadcast(payload []byte) []packet.Dir { return nil }
func (h *fakeHost) Room(to packet.Dir) int                { return max(h.room[to], 0) }
func (h *fakeHost) Drained() <-chan struct{}              { return h.drain }
func (h *fakeHost) Neighbours() []p2p.Neighbour           { return h.nbrs }
func (h *fakeHost) Neighbour(d packet.Dir) (p2p.Neighbour, bool) {
	return p2p.FindNeighbour(h.nbrs, d)
}
func (h *fakeHost) Self() p2p.TileID     { return h.self }
func (h *fakeHost) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// take returns and forgets what was sent.
func (h *fakeHost) take() []sentPacket {
	out := h.sent
	h.sent = nil
	return out
}

// tileID makes a test identity from a number.
func tileID(n int) p2p.TileID {
	return p2p.TileID{0xee, 1, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// newDriven returns a service set up as Serve sets it up, on a host with
// live tube neighbours on the links given (room for 1000 packets each).
func newDriven(t *testing.T, self p2p.TileID, links map[packet.Dir]p2p.TileID) (*Service, *fakeHost) {
	t.Helper()
	s, err := New(DefaultConfig(), Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{self: self, drain: make(chan struct{}, 1)}
	for _, d := range packet.Links {
		if tile, ok := links[d]; ok {
			h.nbrs = append(h.nbrs, p2p.Neighbour{Dir: d, Tile: tile, Services: 1 << packet.ServiceTube, RTT: 10 * time.Millisecond})
			h.room[d] = 1000
		}
	}
	s.h, s.log = h, h.Logger()
	s.tubes = make(map[uint16]*tube)
	s.byPeer = make(map[peerKey]*tube)
	s.accepts = make(map[uint16]*waitAccept)
	s.nextID, s.nextPort = 100, ephemeralLo
	s.now = time.Unix(1000, 0)
	return s, h
}

// deliver hands s a packet from the neighbour on d.
func deliver(s *Service, d packet.Dir, payload []byte) {
	n, _ := s.h.Neighbour(d)
	m := p2p.NewMessage(d, n.Tile, payload)
	s.packet(&m)
}

// testClient is a program's connection as the service sees it, without
// a socket: what the service tells the program waits in out.
func testClient() *client {
	return &client{credit: make(chan struct{}, 1), out: outbox{wake: make(chan struct{}, 1)}}
}

// acceptOn makes a program wait on port for a stream tube.
func acceptOn(s *Service, port uint16) *client {
	c := testClient()
	s.request(c, request{accept: true, port: port, kind: KindStream})
	return c
}

// final is the final frame the program on c was given, "" for none.
func final(c *client) string {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	return string(c.out.final)
}
