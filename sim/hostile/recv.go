package hostile

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/counter"
	"github.com/t2tiles/itcd/services/mfz/dist"
)

// Received is one datagram from the daemon, parsed.
type Received struct {
	At time.Time
	// Frame is the frame as it came (Err is a *dev.FrameError if the
	// datagram is none).
	Frame dev.Frame
	// Packet is the packet of a packet frame, decoded; DIR is the
	// daemon's name for the link (as it wrote it).
	Packet packet.Packet
	// Err says why the datagram is no frame, or its packet does not
	// decode; nil for a keepalive or a packet that decodes.
	Err error
}

// ErrNotService is returned by the decoders of Received for a packet of
// another service (or no packet).
var ErrNotService = errors.New("hostile: not a packet of that service")

// IsService reports whether r is a well-formed packet of service s.
func (r *Received) IsService(s packet.Service) bool {
	return r.Err == nil && r.Packet.Kind == packet.KindService && r.Packet.Service == s
}

// Hello decodes a liveness hello (false for anything else, or a hello the
// daemon would refuse).
func (r *Received) Hello() (daemon.Hello, bool) {
	if !r.IsService(packet.ServiceLiveness) {
		return daemon.Hello{}, false
	}
	return daemon.ParseHello(r.Packet.Payload)
}

// Counter decodes a counter (service 2) message.
func (r *Received) Counter() (counter.Message, error) {
	if !r.IsService(packet.ServiceCounter) {
		return counter.Message{}, ErrNotService
	}
	return counter.ParseMessage(r.Packet.Payload)
}

// Dist decodes a service 8 message; its Data aliases the packet.
func (r *Received) Dist() (dist.Message, error) {
	if !r.IsService(packet.ServiceMFZ) {
		return dist.Message{}, ErrNotService
	}
	return dist.ParseMessage(r.Packet.Payload)
}

// Clone returns a copy of r that owns its bytes, to keep past the
// handler call.
func (r *Received) Clone() Received {
	c := *r
	if r.Frame.Packet != nil {
		c.Frame.Packet = bytes.Clone(r.Frame.Packet)
		if r.Err == nil {
			c.Packet, _ = packet.Decode(c.Frame.Packet)
		}
	}
	return c
}

// readLoop receives until the socket is closed.
func (n *Neighbour) readLoop() {
	var buf [dev.MaxFrameLen + 1]byte
	for {
		k, from, err := n.conn.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Such as ECONNREFUSED after the daemon stopped: go on, but
			// never spin on an error that persists.
			time.Sleep(time.Millisecond)
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		n.mu.Lock()
		peer := n.peer
		n.mu.Unlock()
		if from != peer {
			n.strangers.Add(1)
			continue
		}
		r := n.parse(buf[:k])
		if n.cfg.Handler != nil {
			n.cfg.Handler(n, &r)
		}
	}
}

// parse reads one datagram from the peer and counts it.
func (n *Neighbour) parse(b []byte) Received {
	r := Received{At: time.Now()}
	r.Frame, r.Err = dev.ParseFrame(b)
	if r.Err != nil {
		n.bad.Add(1)
		return r
	}
	n.frames.Add(1)
	if r.Frame.Type == dev.FrameKeepalive {
		n.keepalives.Add(1)
		return r
	}
	r.Packet, r.Err = packet.Decode(r.Frame.Packet)
	if r.Err != nil {
		n.bad.Add(1)
		r.Err = fmt.Errorf("hostile: packet from the daemon: %w", r.Err)
		return r
	}
	n.packets.Add(1)
	if h, ok := r.Hello(); ok {
		n.heardMu.Lock()
		n.peerHello, n.heardAt = h, r.At
		n.heardMu.Unlock()
	}
	return r
}
