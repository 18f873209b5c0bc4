package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// mfmChannel is mfmt2's one channel: every MFMT packet from any link and
// every Tile Event Packet go to the connected client on mfm.sock, and the
// MFMT packets it writes go out on the links they name.
type mfmChannel struct {
	mu      sync.Mutex
	client  *packetClient
	pid     int           // the client's process
	refused atomic.Uint64 // malformed or non-MFM packets written by the client
	// lastChange (under mu) is when an mfm.sock client last changed the
	// physics identity.
	lastChange time.Time
}

// mfzidChangeGap bounds how often mfm.sock may change the physics
// identity: each change restarts every link's handshake.
const mfzidChangeGap = time.Second

// packetClient is a connection that receives whole packets through a
// bounded queue, so the reader never waits on it.
type packetClient struct {
	conn    *net.UnixConn
	q       chan slot
	dropped atomic.Uint64
}

func newPacketClient(c *net.UnixConn, n int) *packetClient {
	return &packetClient{conn: c, q: make(chan slot, n)}
}

func (pc *packetClient) send(b []byte) bool {
	var s slot
	s.n = uint8(copy(s.b[:], b))
	select {
	case pc.q <- s:
		return true
	default:
		pc.dropped.Add(1)
		return false
	}
}

// writeLoop copies queued packets to the connection until ctx ends or the
// connection fails.
func (pc *packetClient) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-pc.q:
			if _, err := pc.conn.Write(s.b[:s.n]); err != nil {
				return
			}
		}
	}
}

// heldBy says why a new client cannot have the channel, "" if it can.
func (m *mfmChannel) heldBy() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.client == nil {
		return ""
	}
	return heldReason(m.pid)
}

func heldReason(pid int) string {
	return fmt.Sprintf("mfm.sock is held by pid %d (mfmt2?): one MFM client at a time; stop it first", pid)
}

func (m *mfmChannel) deliver(b []byte) bool {
	m.mu.Lock()
	c := m.client
	m.mu.Unlock()
	return c != nil && c.send(b)
}

func (m *mfmChannel) event(e p2p.Event) {
	var buf [p2p.EventPacketLen]byte
	if b, err := p2p.AppendEvent(buf[:0], e); err == nil {
		m.deliver(b)
	}
}

// serveMFM runs one mfm.sock connection. Only one client (mfmt2) may hold
// the channel at a time.
func (d *Daemon) serveMFM(ctx context.Context, lc *localConn) {
	c := lc.UnixConn
	mr, err := newMsgReader(c)
	if err != nil {
		d.log.Warn("mfm.sock: cannot read messages", "err", err)
		return
	}
	pc := newPacketClient(c, d.cfg.InboxLen)
	pid := peerPID(c)
	attached, holder := false, 0
	// Take the channel and queue a connect for each live neighbour in one
	// step, so the client hears every later event after those, once.
	d.nbr.attach(func(live []p2p.Neighbour) {
		d.mfm.mu.Lock()
		defer d.mfm.mu.Unlock()
		if d.mfm.client != nil {
			holder = d.mfm.pid
			return
		}
		d.mfm.client, d.mfm.pid, attached = pc, pid, true
		for _, n := range live {
			sendTEP(pc, p2p.Event{Kind: packet.EventConnect, Dir: n.Dir, Tile: n.Tile})
		}
		for _, e := range d.nbr.compatLocked() {
			sendTEP(pc, e)
		}
	})
	if !attached {
		lc.on.refused.Add(1)
		d.log.Warn("mfm.sock: refused a second client: mfmt2 already holds the MFM channel", "pid", pid, "holder", holder)
		// Nothing else is written to this connection: the reason is its
		// one message (byte 0 'e' is never a standard packet).
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		c.Write([]byte("error: " + heldReason(holder)))
		return
	}
	d.log.Info("mfm.sock: client connected", "pid", pid)
	defer func() {
		d.mfm.mu.Lock()
		d.mfm.client, d.mfm.pid = nil, 0
		d.mfm.mu.Unlock()
		d.log.Info("mfm.sock: client gone")
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pc.writeLoop(ctx)
		c.Close() // ends the read below if the write side failed
	}()
	defer func() { cancel(); <-done }()

	buf := make([]byte, packet.MaxLen+1)
	warned := false // an identity refusal was logged at Warn on this connection
	for {
		n, err := mr.read(buf)
		if err != nil && !errors.Is(err, errTruncated) {
			return
		}
		if bytes.HasPrefix(buf[:n], []byte(MFZIDTag[:len(MFZIDTag)-1])) {
			if !d.mfzidMessage(ctx, pc, pid, buf[:n], err != nil, &warned) {
				return
			}
			continue
		}
		var p packet.Packet
		if err == nil {
			p, err = checkMFMWrite(buf[:n])
		}
		if err != nil {
			d.mfm.refused.Add(1)
			d.log.Debug("mfm.sock: refused a message", "err", err)
			continue
		}
		// MFM traffic is never dropped for a full queue: wait for room, as
		// a blocking write to the kernel device would. A packet for a link
		// that is not MFM-compatible (or turns so while it waits) is not
		// sent: the far tile would drop it (the kernel does). It is
		// counted here, where the client's mistake can be seen per link.
		for {
			queued, closed := d.out.enqueueMFM(p.Dir, buf[:n])
			if queued {
				d.writeNow(p.Dir)
				break
			}
			if closed {
				d.stats.link[p.Dir].mfmIncompatible.Add(1)
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-d.clk.After(d.cfg.WriteRetry.D()):
			}
		}
	}
}

// mfzidMessage handles an identity message from the mfm.sock client
// (truncated: longer than the read buffer). It answers "ok MFZID <id>" or
// "error: REASON", before any TEP the change causes; the connection stays
// up either way. The identity stays when the client leaves
// (notes/protocol.md says why).
//
// A change of identity restarts every link's handshake and, on a tile,
// makes the MFM devices stale: changes follow each other no sooner than
// mfzidChangeGap, the client's later messages waiting meanwhile (its
// socket fills, as for a client that writes too fast). It returns false
// if ctx ended while waiting.
//
// The first refusal on a connection is logged at Warn, later ones at
// Debug (all are counted): a client repeating a bad message cannot fill
// the log.
func (d *Daemon) mfzidMessage(ctx context.Context, pc *packetClient, pid int, msg []byte, truncated bool, warned *bool) bool {
	var id []byte
	err := fmt.Errorf("%w: longer than %d bytes", ErrMFZIDMessage, MaxMFZIDMessage)
	if !truncated {
		id, err = ParseMFZIDMessage(msg)
	}
	if err == nil && d.phys.changes(id) {
		d.mfm.mu.Lock()
		wait := time.Until(d.mfm.lastChange.Add(mfzidChangeGap))
		d.mfm.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return false
			}
		}
		d.mfm.mu.Lock()
		d.mfm.lastChange = time.Now()
		d.mfm.mu.Unlock()
	}
	refuse := func(err error) {
		d.mfm.refused.Add(1)
		level := slog.LevelWarn
		if *warned {
			level = slog.LevelDebug
		}
		*warned = true
		d.log.Log(context.Background(), level, "mfm.sock: physics identity refused", "pid", pid, "err", err)
		pc.send([]byte("error: " + err.Error()))
	}
	if err != nil {
		refuse(err)
		return true
	}
	d.setMFZID(id, "mfm.sock", func(err error) {
		if err != nil {
			refuse(err)
			return
		}
		d.log.Info("mfm.sock: physics identity set", "pid", pid, "mfzid", string(id))
		pc.send(append([]byte("ok "), AppendMFZIDMessage(nil, id)...))
	})
	return true
}
