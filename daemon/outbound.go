package daemon

import (
	"context"
	"errors"
	"math/bits"
	"sync"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
)

// outbound holds every packet waiting to go out, per link and per class.
// The writer drains it in priority order: MFM traffic first, then the
// daemon's own hellos, then the services in round robin, one packet each,
// so a service with a deep queue cannot starve the others.
type outbound struct {
	mu       sync.Mutex
	links    [8]linkOut
	wake     chan struct{}
	svcLimit int
	retry    time.Duration
	backlog  int // Config.ServiceBacklog
}

type linkOut struct {
	mfm     *pktQueue
	own     *pktQueue
	svc     [packet.MaxService + 1]*pktQueue
	svcs    uint64         // bit s: svc[s] exists (head visits only these)
	next    packet.Service // round-robin position
	pending int            // packets queued on this link, all classes
	// mfmOpen: the link is MFM-compatible, so MFM packets may be queued
	// for it. Kept here, under the queues' lock, so none is queued after
	// the link turned incompatible and its MFM queue was emptied.
	mfmOpen bool
	blocked time.Time // the device queue was full: retry after this
	// svcBlocked: the device's backlog was at Config.ServiceBacklog;
	// service packets wait until this, MFM packets and hellos do not.
	svcBlocked time.Time
}

func (o *outbound) init(cfg *Config) {
	o.wake = make(chan struct{}, 1)
	o.svcLimit = cfg.ServiceQueue
	o.retry = cfg.WriteRetry.D()
	o.backlog = cfg.ServiceBacklog
	for i := range o.links {
		o.links[i].mfm = newPktQueue(cfg.MFMQueue)
		o.links[i].own = newPktQueue(16)
		o.links[i].next = 2
	}
}

// enqueue adds a built packet for link to in class q; q is picked under
// the lock by pick. The caller then writes it (Daemon.writeNow).
func (o *outbound) enqueue(to packet.Dir, pkt []byte, pick func(*linkOut) *pktQueue) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := &o.links[to]
	q := pick(l)
	ok := q != nil && q.push(pkt)
	if ok {
		l.pending++
	}
	return ok
}

// enqueueMFM queues an MFM packet for to. closed reports that the link is
// not MFM-compatible and nothing was queued; otherwise a packet not queued
// found the queue full.
func (o *outbound) enqueueMFM(to packet.Dir, pkt []byte) (queued, closed bool) {
	queued = o.enqueue(to, pkt, func(l *linkOut) *pktQueue {
		if !l.mfmOpen {
			closed = true
			return nil
		}
		return l.mfm
	})
	return queued, closed
}

func (o *outbound) enqueueOwn(to packet.Dir, pkt []byte) bool {
	return o.enqueue(to, pkt, func(l *linkOut) *pktQueue { return l.own })
}

func (o *outbound) enqueueService(to packet.Dir, s packet.Service, pkt []byte) bool {
	return o.enqueue(to, pkt, func(l *linkOut) *pktQueue { return l.serviceQueue(s, o.svcLimit) })
}

func (l *linkOut) serviceQueue(s packet.Service, limit int) *pktQueue {
	if l.svc[s] == nil {
		l.svc[s] = newPktQueue(limit)
		l.svcs |= 1 << s
	}
	return l.svc[s]
}

// room returns how many packets service s may still queue on link to.
func (o *outbound) room(to packet.Dir, s packet.Service) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if q := o.links[to].svc[s]; q != nil {
		return q.room()
	}
	return o.svcLimit
}

// clearLink drops what waits for a link that went down (services false:
// MFM and hellos) or for a neighbour that left (services true: the
// service queues). It returns, bit s set, the services whose queue had
// filled up and now has room.
func (o *outbound) clearLink(to packet.Dir, services bool) (unblocked uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := &o.links[to]
	drop := func(q *pktQueue) {
		l.pending -= q.len()
		q.clear()
	}
	if !services {
		drop(l.mfm)
		drop(l.own)
		return 0
	}
	for s, q := range l.svc {
		if q != nil {
			if q.wasFull {
				unblocked |= 1 << s
			}
			drop(q)
		}
	}
	return unblocked
}

// setMFMOpen opens link to for MFM packets, or closes it and drops those
// waiting: the far tile would drop them.
func (o *outbound) setMFMOpen(to packet.Dir, open bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := &o.links[to]
	l.mfmOpen = open
	if !open {
		l.pending -= l.mfm.len()
		l.mfm.clear()
	}
}

// head picks the next queue to send from on l, or nil. The services take
// turns from l.next on (2..MaxService, then round again); only those with
// a queue are looked at: a scan of all 62 was 2% of a busy grid's CPU.
func (l *linkOut) head() (*pktQueue, packet.Service) {
	if l.mfm.len() > 0 {
		return l.mfm, 0
	}
	if l.own.len() > 0 {
		return l.own, 0
	}
	// Bit k of turn is service (l.next+k) mod 64; services 0 and 1 have
	// no queue, so the order is l.next..63, then 2..l.next-1.
	for turn := bits.RotateLeft64(l.svcs, -int(l.next)); turn != 0; turn &= turn - 1 {
		s := (l.next + packet.Service(bits.TrailingZeros64(turn))) % 64
		if q := l.svc[s]; q.len() > 0 {
			l.next = 2 + (s-1)%(packet.MaxService-1)
			return q, s
		}
	}
	return nil, 0
}

// serviceRoom reports whether a service packet may go to the device for
// link dir now: its backlog is under the bound. If not, service packets
// wait (svcBlocked) until about half the bound has left; MFM packets and
// hellos overtake them meanwhile.
func (l *linkOut) serviceRoom(bl dev.Backlogger, dir packet.Dir, o *outbound, now time.Time) bool {
	if now.Before(l.svcBlocked) {
		return false
	}
	n, drain := bl.Backlog(dir)
	if n < o.backlog {
		return true
	}
	l.svcBlocked = now.Add(max(o.retry, drain-drain*time.Duration(o.backlog/2)/time.Duration(n)))
	return false
}

// writeLoop moves queued packets to the device until ctx ends. A link
// whose device queue is full is retried after WriteRetry, or, on a device
// that says when it has room (dev.RoomNotifier, the UDP device), when it
// says so: a full link then costs no wakeups while it drains.
func (d *Daemon) writeLoop(ctx context.Context) {
	timer := d.clk.NewTimer(time.Hour)
	defer timer.Stop()
	var room <-chan struct{}
	if rn, ok := d.dev.(dev.RoomNotifier); ok {
		room = rn.Room()
	}
	for {
		retryAt, svcAt := d.flush()
		if room != nil {
			retryAt = time.Time{} // a full link: the device says when it has room
		}
		if retryAt.IsZero() || !svcAt.IsZero() && svcAt.Before(retryAt) {
			retryAt = svcAt // service packets held back by the backlog bound: no notice comes
		}
		var tc <-chan time.Time
		if !retryAt.IsZero() {
			timer.Reset(d.clk.Until(retryAt))
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-d.out.wake:
		case <-room:
			d.out.unblock()
		case <-tc:
		}
		if tc != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// unblock lets flush try every link again: the device has room.
func (o *outbound) unblock() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.links {
		o.links[i].blocked = time.Time{}
	}
}

// writeNow writes what waits for link to at once, on the caller's
// goroutine, and leaves to the writer (writeLoop) only what cannot go
// yet: a full device queue, a backlog at its bound. Handing each packet
// to the writer cost a wakeup: a quarter of the CPU of a packet sent
// alone, as a 64 KB/s link takes them (BenchmarkServiceToDevice).
func (d *Daemon) writeNow(to packet.Dir) {
	o := &d.out
	o.mu.Lock()
	var drained uint64
	retryAt, svcAt := d.flushLinkLocked(to, d.clk.Now(), d.backlogger(), &drained)
	o.mu.Unlock()
	d.wakeSenders(drained)
	if !retryAt.IsZero() || !svcAt.IsZero() {
		notify(o.wake) // the writer keeps the time to try again
	}
}

// flush writes what it can and returns when the earliest link blocked by
// a full device queue may be retried, and when the earliest link whose
// service packets wait for its backlog to fall (serviceRoom) may send them
// (zero if none).
func (d *Daemon) flush() (retryAt, svcAt time.Time) {
	o := &d.out
	o.mu.Lock()
	defer o.mu.Unlock()
	now, bl := d.clk.Now(), d.backlogger()
	var drained uint64 // bit s: service s's full queue drained to half
	for _, dir := range packet.Links {
		r, s := d.flushLinkLocked(dir, now, bl, &drained)
		retryAt, svcAt = earlier(retryAt, r), earlier(svcAt, s)
	}
	d.wakeSenders(drained)
	return retryAt, svcAt
}

// backlogger is the device's Backlogger if the service backlog is
// bounded, else nil.
func (d *Daemon) backlogger() dev.Backlogger {
	if bl, ok := d.dev.(dev.Backlogger); ok && d.out.backlog > 0 {
		return bl
	}
	return nil
}

// flushLinkLocked writes what it can of link dir's queues, in priority
// order; the caller holds d.out.mu. It returns when the link may be
// tried again if the device queue was full, and when its service packets
// may go if its backlog was at the bound (zero if not), and sets in
// drained bit s for each service s whose full queue drained to half.
func (d *Daemon) flushLinkLocked(dir packet.Dir, now time.Time, bl dev.Backlogger, drained *uint64) (retryAt, svcAt time.Time) {
	o := &d.out
	l := &o.links[dir]
	if l.pending > 0 && now.Before(l.blocked) {
		return l.blocked, time.Time{}
	}
	for l.pending > 0 {
		q, s := l.head()
		if q == nil {
			l.pending = 0 // cannot happen; keep the loop finite
			break
		}
		pkt := q.front()
		if s != 0 && bl != nil && !l.serviceRoom(bl, dir, o, now) {
			return time.Time{}, l.svcBlocked
		}
		err := d.dev.WritePacket(pkt)
		if errors.Is(err, dev.ErrWouldBlock) {
			l.blocked = now.Add(o.retry)
			return l.blocked, time.Time{}
		}
		ls := &d.stats.link[dir]
		switch {
		case err == nil:
			ls.out[classOfHeader(pkt[0])].add(len(pkt))
			d.capture.tap(control.TravelOut, pkt)
		case errors.Is(err, dev.ErrLinkDown):
			ls.dropped.Add(1)
		default:
			ls.writeErrors.Add(1)
			d.log.Warn("device write failed", "dir", dir, "err", err)
		}
		if q.pop() && s != 0 {
			*drained |= 1 << s
		}
		l.pending--
	}
	return time.Time{}, time.Time{}
}

// earlier is the sooner of two times, a zero one being none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// wakeSenders tells the owner of each service s with bit s set in mask
// that its send queue has room again.
func (d *Daemon) wakeSenders(mask uint64) {
	for s := packet.ServiceLiveness; mask != 0 && s <= packet.MaxService; s++ {
		if mask&(1<<s) == 0 {
			continue
		}
		mask &^= 1 << s
		if o := d.owners[s].Load(); o != nil {
			o.drained()
		}
	}
}

// drained tells a service's owner its send queue has room again.
func (o *owner) drained() {
	switch {
	case o.svc != nil:
		notify(o.svc.drainedC)
	case o.client != nil:
		notify(o.client.room)
	}
}

// notify does a non-blocking send on a capacity-1 channel.
func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
