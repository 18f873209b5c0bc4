package daemon

import (
	"log/slog"
	"sync/atomic"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// serviceHost is the daemon's side of one in-process service: its inbox
// and its Host.
type serviceHost struct {
	d        *Daemon
	svc      p2p.Service
	num      packet.Service
	log      *slog.Logger
	packets  chan p2p.Message
	events   chan p2p.Event
	drainedC chan struct{}
	dropped  atomic.Uint64 // packets that did not fit the inbox
	lostEvts atomic.Uint64 // events that did not fit
}

func newServiceHost(d *Daemon, s p2p.Service) *serviceHost {
	return &serviceHost{
		d:        d,
		svc:      s,
		num:      s.Number(),
		log:      d.log.With("service", s.Name()),
		packets:  make(chan p2p.Message, d.cfg.InboxLen),
		events:   make(chan p2p.Event, 64),
		drainedC: make(chan struct{}, 1),
	}
}

func (h *serviceHost) inbox() p2p.Inbox { return p2p.Inbox{Packets: h.packets, Events: h.events} }

// deliver copies a packet into the inbox without blocking.
func (h *serviceHost) deliver(from packet.Dir, tile p2p.TileID, _ []byte, payload []byte) bool {
	select {
	case h.packets <- p2p.NewMessage(from, tile, payload):
		return true
	default:
		h.dropped.Add(1)
		return false
	}
}

// event hands a neighbour event to the service without blocking.
func (h *serviceHost) event(e p2p.Event) {
	select {
	case h.events <- e:
	default:
		h.lostEvts.Add(1)
		h.log.Error("service too slow: neighbour event lost", "event", e.String())
	}
}

func (h *serviceHost) Send(to packet.Dir, payload []byte) error {
	if len(payload) > packet.MaxServicePayload {
		return p2p.ErrPayloadTooLong
	}
	if !to.IsLink() {
		return p2p.ErrNotLive
	}
	var buf [packet.MaxLen]byte
	pkt, err := packet.AppendService(buf[:0], to, h.num, payload)
	if err != nil {
		return err
	}
	return h.d.enqueueLive(to, h.num, pkt)
}

func (h *serviceHost) Broadcast(payload []byte) []packet.Dir {
	var sent []packet.Dir
	for _, n := range h.d.nbr.live() {
		if h.Send(n.Dir, payload) == nil {
			sent = append(sent, n.Dir)
		}
	}
	return sent
}

func (h *serviceHost) Room(to packet.Dir) int      { return h.d.out.room(to, h.num) }
func (h *serviceHost) Drained() <-chan struct{}    { return h.drainedC }
func (h *serviceHost) Neighbours() []p2p.Neighbour { return h.d.nbr.live() }
func (h *serviceHost) Neighbour(d packet.Dir) (p2p.Neighbour, bool) {
	return h.d.nbr.one(d)
}
func (h *serviceHost) Self() p2p.TileID     { return h.d.self }
func (h *serviceHost) Logger() *slog.Logger { return h.log }
