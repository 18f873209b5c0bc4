package daemon

import (
	"log/slog"
	"sync/atomic"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/tep"
)

// serviceHost is the daemon's side of one in-process service: its inbox
// and its Host.
type serviceHost struct {
	d        *Daemon
	svc      Service
	num      packet.Service
	log      *slog.Logger
	packets  chan Message
	events   chan tep.Event
	drainedC chan struct{}
	dropped  atomic.Uint64 // packets that did not fit the inbox
	lostEvts atomic.Uint64 // events that did not fit
}

func newServiceHost(d *Daemon, s Service) *serviceHost {
	return &serviceHost{
		d:        d,
		svc:      s,
		num:      s.Number(),
		log:      d.log.With("service", s.Name()),
		packets:  make(chan Message, d.cfg.InboxLen),
		events:   make(chan tep.Event, 64),
		drainedC: make(chan struct{}, 1),
	}
}

func (h *serviceHost) inbox() Inbox { return Inbox{Packets: h.packets, Events: h.events} }

// deliver copies a packet into the inbox without blocking.
func (h *serviceHost) deliver(from packet.Dir, tile tep.TileID, _ []byte, payload []byte) bool {
	var m Message
	m.From, m.Tile = from, tile
	m.n = uint8(copy(m.buf[:], payload))
	select {
	case h.packets <- m:
		return true
	default:
		h.dropped.Add(1)
		return false
	}
}

// event hands a neighbour event to the service without blocking.
func (h *serviceHost) event(e tep.Event) {
	select {
	case h.events <- e:
	default:
		h.lostEvts.Add(1)
		h.log.Error("service too slow: neighbour event lost", "event", e.String())
	}
}

func (h *serviceHost) Send(to packet.Dir, payload []byte) error {
	if len(payload) > packet.MaxServicePayload {
		return ErrPayloadTooLong
	}
	if !to.IsLink() {
		return ErrNotLive
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

func (h *serviceHost) Room(to packet.Dir) int   { return h.d.out.room(to, h.num) }
func (h *serviceHost) Drained() <-chan struct{} { return h.drainedC }
func (h *serviceHost) Neighbours() []Neighbour  { return h.d.nbr.live() }
func (h *serviceHost) Self() tep.TileID         { return h.d.self }
func (h *serviceHost) Logger() *slog.Logger     { return h.log }
