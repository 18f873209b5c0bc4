package p2p

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// Service is an in-process peer-to-peer service: it owns one service number
// and exchanges packets of that number with the same service on the
// neighbouring tiles.
//
// Serve runs in its own goroutine until ctx ends. Everything for the service
// arrives through in, so a service written as one select loop needs no
// locks: packets on in.Packets, neighbour connects and disconnects on
// in.Events, and a signal on h.Drained when its full send queues have room
// again. A service that falls behind loses its own packets (counted), never
// anyone else's.
type Service interface {
	Number() packet.Service
	Name() string
	Serve(ctx context.Context, h Host, in Inbox) error
}

// StatusReporter is implemented by services that add a section to
// `itcd status`. Status is called from another goroutine than Serve.
type StatusReporter interface {
	Status() any
}

// ControlHandler is implemented by services that answer commands on the
// control socket, such as `itcd push` or `itcd counter`. Control is called
// from another goroutine than Serve.
type ControlHandler interface {
	// Commands lists the command names the service answers.
	Commands() []string
	Control(ctx context.Context, cmd string, args []byte) (any, error)
}

// SocketServer is implemented by services that serve local programs on a
// socket of their own in the run dir (the tube service's tube.sock). The
// daemon creates it beside its own sockets, a SOCK_SEQPACKET socket with
// their permissions and client limits, and calls ServeConn in a goroutine
// of its own for each connection, until ctx ends; it closes conn after
// ServeConn returns.
type SocketServer interface {
	SocketName() string // a file name in the run dir, such as "tube.sock"
	ServeConn(ctx context.Context, conn *net.UnixConn)
}

// Inbox is what a service receives.
type Inbox struct {
	Packets <-chan Message
	Events  <-chan Event
}

// Message is one service packet from a neighbour. It is a value that owns
// its bytes, so it moves through channels without allocation.
type Message struct {
	From packet.Dir
	// Tile is the live tile on From that sent it. When a tile is replaced
	// on a link, its last packets can be read after the new tile's
	// connect event: compare Tile with the tile the event named.
	Tile TileID
	n    uint8
	buf  [packet.MaxServicePayload]byte
}

// NewMessage returns the message tile on from sent with payload; a
// payload longer than a service packet holds is cut to MaxServicePayload.
func NewMessage(from packet.Dir, tile TileID, payload []byte) Message {
	m := Message{From: from, Tile: tile}
	m.n = uint8(copy(m.buf[:], payload))
	return m
}

// Payload returns the bytes after the service byte.
func (m *Message) Payload() []byte { return m.buf[:m.n] }

// Neighbour describes a live neighbour to services.
type Neighbour struct {
	Dir      packet.Dir
	Tile     TileID
	Services uint64        // bit n set: it offers service n
	RTT      time.Duration // smoothed round-trip time of hellos, 0 if unknown
}

// FindNeighbour returns the neighbour of ns on link d: Host.Neighbour
// for a host that keeps a list.
func FindNeighbour(ns []Neighbour, d packet.Dir) (Neighbour, bool) {
	for _, n := range ns {
		if n.Dir == d {
			return n, true
		}
	}
	return Neighbour{}, false
}

// Offers reports whether the neighbour runs service s.
func (n Neighbour) Offers(s packet.Service) bool { return n.Services&(1<<s) != 0 }

// Host is what the daemon offers a service.
type Host interface {
	// Send queues payload for the same service on the live neighbour at
	// to. It fails with ErrNotLive, ErrQueueFull or ErrPayloadTooLong.
	Send(to packet.Dir, payload []byte) error
	// Broadcast sends payload to every live neighbour and returns the
	// directions it was queued for.
	Broadcast(payload []byte) []packet.Dir
	// Room returns how many more packets Send accepts for to.
	Room(to packet.Dir) int
	// Drained receives a value when a send queue of this service that had
	// been full has room again.
	Drained() <-chan struct{}
	// Neighbours lists the live neighbours.
	Neighbours() []Neighbour
	// Neighbour returns the live neighbour on link d, false if none: what
	// Neighbours says of it, for a service that asks on every packet.
	Neighbour(d packet.Dir) (Neighbour, bool)
	// Self is this tile's identity.
	Self() TileID
	// Logger logs with the service's name attached.
	Logger() *slog.Logger
}

// Errors of Host.Send.
var (
	ErrNotLive        = errors.New("no live neighbour on that link")
	ErrQueueFull      = errors.New("send queue for that link is full: wait for Drained")
	ErrPayloadTooLong = errors.New("payload longer than 253 bytes: split it")
)
