package daemon

// The model of the tile at the far end of one link, as a pure type:
// linkModel.step takes what happened (the device's link status, a hello,
// the passing of time) and returns the events it causes. It has no lock,
// socket or clock of its own, so every transition is tested by a table
// (linkmodel_test.go). The daemon holds the six models under one lock and
// applies what step returns in order (neighbour.go).

import (
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// NeighbourState is what the daemon knows of the tile at the far end of a
// link; the status shows it by name, so the type is the control
// package's.
type NeighbourState = control.NeighbourState

// The states of a neighbour.
const (
	Absent = control.Absent // the link is down
	LinkUp = control.LinkUp // the link is synchronised but no itcd has been heard on it
	Live   = control.Live   // the far tile's itcd says hello on the liveness service
)

// maxHelloSkew: an echoed timestamp older than this is ignored.
const maxHelloSkew = 10 * time.Minute

// linkRules are the settings a link's model judges by.
type linkRules struct {
	deadAfter    time.Duration // Config.DeadAfter: a live tile silent longer is gone
	identityHold time.Duration // Config.IdentityHold: no new identity sooner after a connect
}

// linkModel is what the daemon knows of the tile on link dir, and counts
// of what that link said. The zero value with dir set is a link never up.
type linkModel struct {
	dir       packet.Dir // never changes
	state     NeighbourState
	tile      p2p.TileID
	version   uint8
	services  uint64
	uptime    uint32
	since     time.Time // entered the current state
	lastHeard time.Time
	srtt      time.Duration
	peerTS    uint32
	peerTSAt  time.Time
	hellos    uint64
	badHellos uint64
	connects  uint64
	// connectedAt is when the last tile connected (tile is that tile,
	// live or not). identityRefused counts hellos that claimed another
	// identity within IdentityHold of it; refusing is set once the log
	// has said so for the current tile.
	connectedAt     time.Time
	identityRefused uint64
	refusing        bool
	// restarted: the live tile's hellos say its daemon started again
	// (restartedSince) sooner than deadAfter after the last restart
	// this model acted on (restartedAt); the new connect waits until
	// then (hello).
	restarted   bool
	restartedAt time.Time
	// MFM compatibility, the kernel's third state. mfm is what the last
	// TEP 3 or 4 said (false: none, or a 4); statusMFM is whether the
	// device's status reads LinkMFM; peerDigest is the physics identity
	// digest of the live tile's last hello.
	mfm        bool
	statusMFM  bool
	peerDigest mfzDigest
	// The live tile's itcd version from its last hello (Hello.Build,
	// HasBuild), for status.
	peerBuild    string
	peerHasBuild bool
	// sealed: the live tile has sent a sealed hello (Hello.Sealed), so
	// an unsealed one from it is a damaged one whose flag flipped and
	// is taken for bad. A tile that starts again as an older itcd is
	// heard once the liveness deadline has ended it.
	sealed bool
}

// inputKind is what happened to a link.
type inputKind uint8

const (
	// inLinkUp: the device reports the link synchronised.
	inLinkUp inputKind = iota
	// inLinkDown: the device reports the link down.
	inLinkDown
	// inTick: time passed; a live tile silent past deadAfter is gone.
	inTick
	// inHello: a valid hello was heard on the link.
	inHello
	// inBadHello: a liveness packet that is not a valid hello was heard.
	inBadHello
)

// input is one thing that happened to a link.
type input struct {
	kind inputKind
	// For inHello: the hello; whether its tile is live on another link
	// of this tile (only the daemon sees all links); and this tile's
	// hello clock (Hello.TS) at the time, to take the round trip from.
	hello     Hello
	elsewhere bool
	clock     uint32
	// For inLinkUp: the device's status reads LinkMFM. For inLinkUp and
	// inHello: this tile's physics identity digest (not ok: unknown).
	statusMFM bool
	own       mfzDigest
}

// effects is what a step asks of the daemon, in this order: publish each
// event (a disconnect also drops the service packets queued for the tile
// that left), then the rest.
type effects struct {
	events []p2p.Event
	// clearOwn: the link went down; drop the MFM packets and hellos
	// queued on it.
	clearOwn bool
	// sayHello: the link came up; say hello now, not at the next tick.
	sayHello bool
	// clearMFM: the link stopped being MFM-compatible; drop the MFM
	// packets queued on it.
	clearMFM bool
	// refused: the first hello refused since the current tile connected
	// claimed identity claimed; log it (later refusals are only counted).
	refused bool
	claimed p2p.TileID
}

// helloVerdict is what a valid hello does to the neighbour on its link.
type helloVerdict uint8

const (
	// helloRefresh: the live tile says hello again.
	helloRefresh helloVerdict = iota
	// helloConnect: no tile is live on the link; the sender connects.
	helloConnect
	// helloReplace: another tile took the link's place; the live one is
	// gone and the sender connects.
	helloReplace
	// helloRefuse: another identity sooner than a tile can be replaced;
	// the hello is ignored and counted, the live tile keeps the link.
	helloRefuse
)

// judgeHello decides what a hello from tile from does to a link in state
// st, whose last connected tile was last, at lastConnect (zero: never);
// elsewhere says from is live on another link of this tile. Another
// identity within hold of the last connect is refused whether or not that
// tile is still live: a neighbour alone on its link must not connect a new
// identity each time its last one times out. A tile cannot sit on two
// links at once, so an identity live on another link is an impostor's.
func judgeHello(st NeighbourState, last p2p.TileID, lastConnect time.Time, from p2p.TileID, elsewhere bool, now time.Time, hold time.Duration) helloVerdict {
	switch {
	case elsewhere:
		return helloRefuse
	case st == Live && from == last:
		return helloRefresh
	case from != last && !lastConnect.IsZero() && now.Sub(lastConnect) < hold:
		return helloRefuse
	case st != Live:
		return helloConnect
	}
	return helloReplace
}

// step applies in, which happened at now, and returns what the daemon must
// do about it.
func (m *linkModel) step(in input, now time.Time, r linkRules) effects {
	var fx effects
	switch in.kind {
	case inLinkUp:
		if m.state == Absent {
			m.state, m.since = LinkUp, now
			fx.sayHello = true
		}
		m.statusMFM = in.statusMFM
		m.judgeMFM(&fx, in.own)
	case inLinkDown:
		// MFM stops first, while the tile it names is still the live one.
		m.statusMFM = false
		m.judgeMFM(&fx, in.own)
		if m.state == Live {
			m.disconnect(&fx, now)
		}
		if m.state != Absent {
			m.state, m.since = Absent, now
			fx.clearOwn = true
		}
		m.version = 0 // another tile may come up on the link
	case inTick:
		if m.state == Live && now.Sub(m.lastHeard) > r.deadAfter {
			m.disconnect(&fx, now)
		}
	case inBadHello:
		m.badHellos++
	case inHello:
		m.hello(&fx, in, now, r)
	}
	return fx
}

// judgeMFM emits a TEP 3 or 4 if the link's MFM compatibility changed.
// Compatible is the device's LinkMFM, unless both tiles' hellos carry
// physics identity digests that differ: the itc_pkt module keeps a link's
// status at 2 after an mfzid change makes it incompatible (it ignores
// 2->1), and the digests see through that.
func (m *linkModel) judgeMFM(fx *effects, own mfzDigest) {
	compat := m.state != Absent && m.statusMFM && !own.differs(m.peerDigest)
	if compat == m.mfm {
		return
	}
	m.mfm = compat
	kind := packet.EventMFMCompatible
	if !compat {
		kind = packet.EventMFMIncompatible
		fx.clearMFM = true
	}
	e := p2p.Event{Kind: kind, Dir: m.dir}
	if m.state == Live {
		e.Tile = m.tile
	}
	fx.events = append(fx.events, e)
}

// hello applies a valid hello.
func (m *linkModel) hello(fx *effects, in input, now time.Time, r linkRules) {
	h := in.hello
	// Whoever it claims to be: an impostor may seal its hellos too,
	// and is then refused by identity below.
	if m.sealed && !h.Sealed {
		m.badHellos++
		return
	}
	m.hellos++
	verdict := judgeHello(m.state, m.tile, m.connectedAt, h.Tile, in.elsewhere, now, r.identityHold)
	if verdict == helloRefuse {
		// Not heard: if the live tile is really gone, the liveness
		// deadline ends it, and a successor connects once the hold
		// since the last connect is over.
		m.identityRefused++
		if !m.refusing {
			m.refusing = true
			fx.refused, fx.claimed = true, h.Tile
		}
		return
	}
	// An unsealed hello before a sealed one is judged too: it may be a
	// version 2 daemon's last before its upgrade. A damaged first hello
	// of a digest-less tile (short, so unsealed) may then cost a
	// reconnect just after the link came up; a missed restart would
	// leave every service here talking to a daemon that is gone.
	if verdict == helloRefresh && restartedSince(m.uptime, m.peerTS, h) {
		m.restarted = true
	}
	if verdict == helloRefresh && m.restarted && (m.restartedAt.IsZero() || now.Sub(m.restartedAt) >= r.deadAfter) {
		// Its daemon started again faster than the liveness deadline
		// (a crash and systemd's restart, an upgrade): the same tile,
		// but none of what it knew. A disconnect and a connect make
		// every service here treat it as new and tell it everything
		// again; the routing service sends its table only then. At
		// most one a deadAfter: a neighbour faking restarts gets no
		// more connects than one that falls silent and comes back.
		verdict = helloReplace
		m.restartedAt = now
	}
	m.lastHeard = now
	m.peerTS, m.peerTSAt = h.TS, now
	if h.EchoTS != 0 {
		// In uint32 ms, so a forged echo wraps to a huge round trip,
		// which the skew bound throws away.
		rtt := time.Duration(in.clock-h.EchoTS-h.EchoHold) * time.Millisecond
		if rtt >= 0 && rtt < maxHelloSkew {
			if m.srtt == 0 {
				m.srtt = rtt
			} else {
				m.srtt += (rtt - m.srtt) / 8
			}
		}
	}
	if verdict == helloReplace {
		m.disconnect(fx, now)
	}
	m.version, m.services, m.uptime = h.Version, h.Services, h.Uptime
	if verdict == helloConnect || verdict == helloReplace {
		if m.tile != h.Tile {
			m.refusing = false // a new tile: its own refusals are news
		}
		m.tile = h.Tile
		m.srtt = 0
		m.connectedAt = now
		m.restarted = false
		m.state, m.since = Live, now
		m.connects++
		fx.events = append(fx.events, p2p.Event{Kind: packet.EventConnect, Dir: m.dir, Tile: m.tile})
	}
	m.peerDigest = mfzDigest{b: h.MFZDigest, ok: h.HasMFZDigest}
	m.peerBuild, m.peerHasBuild = h.Build, h.HasBuild
	m.sealed = m.sealed || h.Sealed
	m.judgeMFM(fx, in.own)
}

// restartedSince reports whether hello h, from the tile whose last hello
// said uptime and ts, comes from a daemon that started after that one:
// its uptime went back two seconds or more, or, in its first second, its
// millisecond clock went back more than restartSlack. Links keep order,
// and this itcd times and queues its hellos in one order (helloMu), but
// an older one may have queued two hellos the wrong way round, a second
// apart at worst: that is not a restart. A clock that wraps (after 49.7
// days) is not one either: its uptime is not 0.
func restartedSince(uptime, ts uint32, h Hello) bool {
	return h.Uptime+1 < uptime || h.Uptime == 0 && uint64(h.TS)+restartSlack < uint64(ts)
}

// restartSlack is how far a hello's ms clock may go back in its daemon's
// first second without counting as a restart (two hellos queued the
// wrong way round are microseconds apart).
const restartSlack = 100

// readsHelloFlags reports whether the last hello taken (not refused)
// since the link came up says its tile reads the hello's flags byte
// (ExtHelloVersion), so a hello without a digest may carry the version
// and its seal. A tile not yet heard is assumed older. A tile that timed
// out on a link still up keeps it: if only its hellos to this tile were
// lost, it still expects sealed hellos from this tile and would refuse
// an unsealed one.
func (m *linkModel) readsHelloFlags() bool {
	return m.version >= ExtHelloVersion
}

// disconnect ends the live tile; the link stays up.
func (m *linkModel) disconnect(fx *effects, now time.Time) {
	m.state, m.since = LinkUp, now
	m.restarted = false
	m.srtt = 0
	m.peerDigest = mfzDigest{} // a successor's hello says its own
	m.peerBuild, m.peerHasBuild = "", false
	m.sealed = false
	fx.events = append(fx.events, p2p.Event{Kind: packet.EventDisconnect, Dir: m.dir, Tile: m.tile})
}

// echo returns what this tile's next hello echoes on the link: the last
// timestamp the far tile sent and how many ms ago it came, or zeros if
// nothing came within deadAfter.
func (m *linkModel) echo(now time.Time, r linkRules) (ts, held uint32) {
	if m.peerTSAt.IsZero() || now.Sub(m.peerTSAt) >= r.deadAfter {
		return 0, 0
	}
	return m.peerTS, uint32(now.Sub(m.peerTSAt).Milliseconds())
}
