package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// svcClient is a program that owns a service number through service.sock.
type svcClient struct {
	*packetClient
	num  packet.Service
	pid  int
	room chan struct{}
}

// serveServiceClient runs one service.sock connection: first the bind
// request "bind N", answered "ok N" or "error: REASON"; then raw service
// packets both ways (DIR = destination on write, source on read) and Tile
// Event Packets from the daemon.
func (d *Daemon) serveServiceClient(ctx context.Context, lc *localConn) {
	c := lc.UnixConn
	mr, err := newMsgReader(c)
	if err != nil {
		d.log.Warn("service.sock: cannot read messages", "err", err)
		return
	}
	buf := make([]byte, packet.MaxLen+1)
	// Until it binds, the client holds a connection for nothing: it may
	// be closed to make room, and is after ClientIdle.
	lc.idle()
	c.SetReadDeadline(time.Now().Add(d.cfg.ClientIdle.D()))
	n, err := mr.read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		fmt.Fprintf(c, "error: no bind within %v: closed", d.cfg.ClientIdle)
		return
	}
	if (err != nil && !errors.Is(err, errTruncated)) || !lc.busy() {
		return
	}
	c.SetReadDeadline(time.Time{})
	num, err := parseBind(buf[:n])
	if err != nil {
		fmt.Fprintf(c, "error: %v", err)
		return
	}
	cl := &svcClient{packetClient: newPacketClient(c, d.cfg.InboxLen), num: num, pid: peerPID(c), room: make(chan struct{}, 1)}
	o := &owner{name: fmt.Sprintf("pid %d", cl.pid), client: cl, deliver: func(_ packet.Dir, _ p2p.TileID, pkt, _ []byte) bool { return cl.send(pkt) }}
	for !d.owners[num].CompareAndSwap(nil, o) {
		// Owned, unless the owner let go just now: then claim it again.
		if cur := d.owners[num].Load(); cur != nil {
			fmt.Fprintf(c, "error: service %d is owned by %s", num, cur.name)
			return
		}
	}
	defer d.owners[num].CompareAndSwap(o, nil)
	if _, err := fmt.Fprintf(c, "ok %d", num); err != nil {
		return
	}
	// Subscribe and queue a connect for each live neighbour in one step,
	// so the program hears every later event after those, once.
	var sub *Subscription
	d.nbr.attach(func(live []p2p.Neighbour) {
		sub = d.hub.Subscribe(d.cfg.InboxLen)
		for _, n := range live {
			sendTEP(cl.packetClient, p2p.Event{Kind: packet.EventConnect, Dir: n.Dir, Tile: n.Tile})
		}
	})
	defer sub.Close()
	d.log.Info("service.sock: service bound", "service", num, "pid", cl.pid)
	defer d.log.Info("service.sock: service released", "service", num, "pid", cl.pid)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Add(2)
	go func() {
		defer wg.Done()
		d.forwardEvents(ctx, sub, cl)
	}()
	go func() {
		defer wg.Done()
		cl.writeLoop(ctx)
		c.Close() // ends the read below if the write side failed
	}()
	for {
		n, err := mr.read(buf)
		if err != nil && !errors.Is(err, errTruncated) {
			return
		}
		var p packet.Packet
		if err == nil {
			p, err = checkServiceWrite(buf[:n], num)
		}
		if err != nil {
			d.svcRefused.Add(1)
			d.log.Debug("service.sock: refused packet", "service", num, "err", err)
			continue
		}
		// Wait for room rather than drop: the program is told to slow down
		// by its socket filling up. A neighbour that leaves meanwhile
		// empties the queue and wakes us; the packet is then dropped.
		for {
			err := d.enqueueLive(p.Dir, num, buf[:n])
			if errors.Is(err, p2p.ErrNotLive) {
				d.stats.link[p.Dir].dropped.Add(1)
			}
			if !errors.Is(err, p2p.ErrQueueFull) {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-cl.room:
			}
		}
	}
}

func (d *Daemon) forwardEvents(ctx context.Context, sub *Subscription, cl *svcClient) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-sub.C():
			sendTEP(cl.packetClient, e)
		}
	}
}

func sendTEP(pc *packetClient, e p2p.Event) {
	var buf [p2p.EventPacketLen]byte
	if b, err := p2p.AppendEvent(buf[:0], e); err == nil {
		pc.send(b)
	}
}

// parseBind reads "bind N" with N a service number a program may own.
func parseBind(b []byte) (packet.Service, error) {
	f := strings.Fields(string(bytes.TrimSpace(b)))
	if len(f) != 2 || f[0] != "bind" {
		return 0, fmt.Errorf("first message must be \"bind N\" with N in 2..63")
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 2 || n > int(packet.MaxService) {
		return 0, fmt.Errorf("service %q: want a number in 2..63 (1 is the daemon's liveness service)", f[1])
	}
	return packet.Service(n), nil
}
