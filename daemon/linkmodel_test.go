package daemon

import (
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

func TestJudgeHello(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a, b := p2p.TileID{1}, p2p.TileID{2}
	hold := 10 * time.Second
	cases := []struct {
		name    string
		state   NeighbourState
		never   bool          // no tile ever connected on the link
		elapsed time.Duration // since the last tile (a) connected
		from    p2p.TileID
		want    helloVerdict
		// elsewhere: from is live on another link
		elsewhere bool
	}{
		{"link up, first hello", LinkUp, true, 0, a, helloConnect, false},
		{"absent link (device lags), first hello", Absent, true, 0, a, helloConnect, false},
		{"live tile again", Live, false, time.Millisecond, a, helloRefresh, false},
		{"live tile long after", Live, false, time.Hour, a, helloRefresh, false},
		{"other tile at once", Live, false, time.Millisecond, b, helloRefuse, false},
		{"other tile just inside hold", Live, false, hold - time.Nanosecond, b, helloRefuse, false},
		{"other tile at hold", Live, false, hold, b, helloReplace, false},
		{"other tile long after", Live, false, time.Hour, b, helloReplace, false},
		{"last tile back after a timeout", LinkUp, false, time.Second, a, helloConnect, false},
		{"other tile after a timeout, inside hold", LinkUp, false, 3 * time.Second, b, helloRefuse, false},
		{"other tile after a link cut, inside hold", Absent, false, 3 * time.Second, b, helloRefuse, false},
		{"other tile after a timeout, past hold", LinkUp, false, hold, b, helloConnect, false},
		{"first hello claims a tile live on another link", LinkUp, true, 0, a, helloRefuse, true},
		{"replacement claims a tile live on another link", Live, false, time.Hour, b, helloRefuse, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var at time.Time
			if !c.never {
				at = t0
			}
			now := t0.Add(c.elapsed)
			got := judgeHello(c.state, a, at, c.from, c.elsewhere, now, hold)
			if got != c.want {
				t.Fatalf("verdict %d, want %d", got, c.want)
			}

			// The same case through the model: the verdict's events.
			m := linkModel{dir: packet.ET, state: c.state, connectedAt: at}
			if !c.never {
				m.tile = a
			}
			if c.state == Live {
				m.lastHeard, m.connects = at, 1
			}
			fx := m.step(input{kind: inHello, hello: Hello{Version: 1, Tile: c.from, TS: 1}, elsewhere: c.elsewhere}, now, linkRules{deadAfter: time.Hour, identityHold: hold})
			var want []p2p.Event
			switch c.want {
			case helloConnect:
				want = []p2p.Event{{Kind: packet.EventConnect, Dir: packet.ET, Tile: c.from}}
			case helloReplace:
				want = []p2p.Event{{Kind: packet.EventDisconnect, Dir: packet.ET, Tile: a}, {Kind: packet.EventConnect, Dir: packet.ET, Tile: c.from}}
			}
			if !reflect.DeepEqual(fx.events, want) {
				t.Fatalf("model events %v, want %v", fx.events, want)
			}
			var wantRefused uint64
			if c.want == helloRefuse {
				wantRefused = 1
			}
			if m.identityRefused != wantRefused || fx.refused != (wantRefused == 1) {
				t.Fatalf("model: identity_refused %d, logged %v; want %d", m.identityRefused, fx.refused, wantRefused)
			}
			if wantLive := c.want != helloRefuse || c.state == Live; (m.state == Live) != wantLive {
				t.Fatalf("model state %v after verdict %d", m.state, c.want)
			}
		})
	}
}

// TestLinkModelStep checks every transition of one link's model: the
// state before, the input and its time give the state after (before
// changed by change) and what the daemon is asked to do.
func TestLinkModelStep(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a, b := p2p.TileID{1}, p2p.TileID{2}
	rules := linkRules{deadAfter: 2 * time.Second, identityHold: 10 * time.Second}
	absent := linkModel{dir: packet.ET}
	up := linkModel{dir: packet.ET, state: LinkUp, since: t0}
	live := linkModel{
		dir: packet.ET, state: Live, tile: a, version: 1, services: 0b110, uptime: 5,
		since: t0, lastHeard: t0, srtt: 40 * time.Millisecond, peerTS: 100, peerTSAt: t0,
		hellos: 1, connects: 1, connectedAt: t0,
	}
	connect := func(id p2p.TileID) p2p.Event { return p2p.Event{Kind: packet.EventConnect, Dir: packet.ET, Tile: id} }
	disconnect := func(id p2p.TileID) p2p.Event {
		return p2p.Event{Kind: packet.EventDisconnect, Dir: packet.ET, Tile: id}
	}
	hello := func(id p2p.TileID) input {
		return input{kind: inHello, hello: Hello{Version: 1, Tile: id, Uptime: 9, Services: 0b1010, TS: 200}, clock: 5000}
	}
	sealedHello := func(id p2p.TileID) input {
		in := hello(id)
		in.hello.Sealed = true
		return in
	}
	echo := func(echoTS, held uint32, clock uint32) input {
		in := hello(a)
		in.hello.EchoTS, in.hello.EchoHold, in.clock = echoTS, held, clock
		return in
	}
	// heard is what any hello that is not refused does to the model.
	heard := func(m *linkModel, now time.Time) {
		m.hellos++
		m.lastHeard, m.peerTS, m.peerTSAt = now, 200, now
		m.version, m.uptime, m.services = 1, 9, 0b1010
	}
	cases := []struct {
		name   string
		before linkModel
		in     input
		after  time.Duration // since t0
		change func(m *linkModel, now time.Time)
		fx     effects
	}{
		// The device's link status.
		{"absent link comes up", absent, input{kind: inLinkUp}, time.Second,
			func(m *linkModel, now time.Time) { m.state, m.since = LinkUp, now },
			effects{sayHello: true}},
		{"up link reported up", up, input{kind: inLinkUp}, time.Second, nil, effects{}},
		{"live link reported up", live, input{kind: inLinkUp}, time.Second, nil, effects{}},
		{"absent link reported down", absent, input{kind: inLinkDown}, time.Second, nil, effects{}},
		{"up link goes down", up, input{kind: inLinkDown}, time.Second,
			func(m *linkModel, now time.Time) { m.state, m.since = Absent, now },
			effects{clearOwn: true}},
		{"live link goes down: the tile leaves first", live, input{kind: inLinkDown}, time.Second,
			func(m *linkModel, now time.Time) { m.state, m.since, m.srtt, m.version = Absent, now, 0, 0 },
			effects{events: []p2p.Event{disconnect(a)}, clearOwn: true}},
		{"live sealed link goes down: the next tile may not seal",
			func() linkModel { m := live; m.sealed = true; return m }(), input{kind: inLinkDown}, time.Second,
			func(m *linkModel, now time.Time) {
				m.state, m.since, m.srtt, m.version, m.sealed = Absent, now, 0, 0, false
			},
			effects{events: []p2p.Event{disconnect(a)}, clearOwn: true}},

		// The liveness deadline.
		{"live tile heard within dead_after", live, input{kind: inTick}, time.Second, nil, effects{}},
		{"live tile silent exactly dead_after", live, input{kind: inTick}, 2 * time.Second, nil, effects{}},
		{"live tile silent past dead_after", live, input{kind: inTick}, 2*time.Second + time.Nanosecond,
			func(m *linkModel, now time.Time) { m.state, m.since, m.srtt = LinkUp, now, 0 },
			effects{events: []p2p.Event{disconnect(a)}}},
		{"sealed tile silent past dead_after: it may come back unsealed",
			func() linkModel { m := live; m.sealed = true; return m }(), input{kind: inTick}, 2*time.Second + time.Nanosecond,
			func(m *linkModel, now time.Time) { m.state, m.since, m.srtt, m.sealed = LinkUp, now, 0, false },
			effects{events: []p2p.Event{disconnect(a)}}},
		{"tick on an up link", up, input{kind: inTick}, time.Hour, nil, effects{}},
		{"tick on an absent link", absent, input{kind: inTick}, time.Hour, nil, effects{}},

		// Hellos that do not parse are counted, whatever the state.
		{"bad hello, absent", absent, input{kind: inBadHello}, time.Second,
			func(m *linkModel, _ time.Time) { m.badHellos++ }, effects{}},
		{"bad hello, live", live, input{kind: inBadHello}, time.Second,
			func(m *linkModel, _ time.Time) { m.badHellos++ }, effects{}},

		// Connects.
		{"first hello on an up link", up, hello(a), time.Second,
			func(m *linkModel, now time.Time) {
				heard(m, now)
				m.state, m.since, m.tile, m.connectedAt, m.connects = Live, now, a, now, 1
			},
			effects{events: []p2p.Event{connect(a)}}},
		{"first hello on an absent link (device lags)", absent, hello(a), time.Second,
			func(m *linkModel, now time.Time) {
				heard(m, now)
				m.state, m.since, m.tile, m.connectedAt, m.connects = Live, now, a, now, 1
			},
			effects{events: []p2p.Event{connect(a)}}},
		{"a connecting hello's round trip is not kept", up, echo(4000, 0, 5000), time.Second,
			func(m *linkModel, now time.Time) {
				heard(m, now)
				m.state, m.since, m.tile, m.connectedAt, m.connects = Live, now, a, now, 1
			},
			effects{events: []p2p.Event{connect(a)}}},
		{"same tile back after a timeout keeps its refusing mark",
			linkModel{dir: packet.ET, state: LinkUp, tile: a, since: t0, connectedAt: t0, connects: 1, refusing: true}, hello(a), time.Second,
			func(m *linkModel, now time.Time) {
				heard(m, now)
				m.state, m.since, m.connectedAt, m.connects = Live, now, now, 2
			},
			effects{events: []p2p.Event{connect(a)}}},
		{"other tile after a timeout, past hold: its refusals are news",
			linkModel{dir: packet.ET, state: LinkUp, tile: a, since: t0, connectedAt: t0, connects: 1, refusing: true}, hello(b), 10 * time.Second,
			func(m *linkModel, now time.Time) {
				heard(m, now)
				m.state, m.since, m.tile, m.connectedAt, m.connects, m.refusing = Live, now, b, now, 2, false
			},
			effects{events: []p2p.Event{connect(b)}}},

		// The live tile says hello again.
		{"refresh: first round trip", func() linkModel { m := live; m.srtt = 0; return m }(), echo(4000, 900, 5000), time.Second,
			func(m *linkModel, now time.Time) { heard(m, now); m.srtt = 100 * time.Millisecond },
			effects{}},
		{"refresh: round trip smoothed by 1/8", live, echo(4000, 880, 5000), time.Second,
			func(m *linkModel, now time.Time) {
				heard(m, now)
				m.srtt = 40*time.Millisecond + (120-40)*time.Millisecond/8
			},
			effects{}},
		{"refresh: no echo keeps the round trip", live, hello(a), time.Second,
			func(m *linkModel, now time.Time) { heard(m, now) },
			effects{}},
		{"refresh: an echo from the future wraps and is ignored", live, echo(6000, 0, 5000), time.Second,
			func(m *linkModel, now time.Time) { heard(m, now) },
			effects{}},
		{"refresh: a round trip of maxHelloSkew is ignored", live, echo(1, 0, 1+uint32(maxHelloSkew/time.Millisecond)), time.Second,
			func(m *linkModel, now time.Time) { heard(m, now) },
			effects{}},

		// Replacement: the old tile leaves before the new one connects.
		{"other tile at hold replaces the live one", live, hello(b), 10 * time.Second,
			func(m *linkModel, now time.Time) {
				heard(m, now)
				m.state, m.since, m.tile, m.srtt, m.connectedAt, m.connects = Live, now, b, 0, now, 2
			},
			effects{events: []p2p.Event{disconnect(a), connect(b)}}},

		// The live tile's daemon started again within dead_after (its
		// uptime or clock went back): a new connect of the same tile,
		// at most one a dead_after.
		{"restart: uptime went back", func() linkModel { m := live; m.uptime = 3600; return m }(), hello(a), time.Second,
			func(m *linkModel, now time.Time) {
				heard(m, now)
				m.since, m.srtt, m.connectedAt, m.connects, m.restartedAt = now, 0, now, 2, now
			},
			effects{events: []p2p.Event{disconnect(a), connect(a)}}},
		{"restart: clock went back in the first second",
			func() linkModel { m := live; m.uptime, m.peerTS = 0, 900; return m }(),
			func() input { in := hello(a); in.hello.Uptime = 0; return in }(), time.Second,
			func(m *linkModel, now time.Time) {
				heard(m, now)
				m.uptime = 0
				m.since, m.srtt, m.connectedAt, m.connects, m.restartedAt = now, 0, now, 2, now
			},
			effects{events: []p2p.Event{disconnect(a), connect(a)}}},
		{"two hellos the wrong way round a second apart: no restart", func() linkModel { m := live; m.uptime, m.peerTS = 10, 10001; return m }(), hello(a), time.Second,
			func(m *linkModel, now time.Time) { heard(m, now) },
			effects{}},
		{"a restart within dead_after of the last waits",
			func() linkModel { m := live; m.uptime, m.restartedAt = 3600, t0; return m }(), hello(a), time.Second,
			func(m *linkModel, now time.Time) { heard(m, now); m.restarted = true },
			effects{}},
		{"a restart that waited connects once dead_after is over",
			func() linkModel { m := live; m.restarted, m.restartedAt = true, t0; return m }(), hello(a), 2 * time.Second,
			func(m *linkModel, now time.Time) {
				heard(m, now)
				m.since, m.srtt, m.connectedAt, m.connects, m.restarted, m.restartedAt = now, 0, now, 2, false, now
			},
			effects{events: []p2p.Event{disconnect(a), connect(a)}}},
		{"a restart pending when the tile times out is forgotten",
			func() linkModel { m := live; m.restarted, m.restartedAt = true, t0; return m }(), input{kind: inTick}, 2*time.Second + time.Nanosecond,
			func(m *linkModel, now time.Time) { m.state, m.since, m.srtt, m.restarted = LinkUp, now, 0, false },
			effects{events: []p2p.Event{disconnect(a)}}},

		// Sealed hellos (damaged ones fail ParseHello): once the live
		// tile has sealed one, an unsealed one is one whose flag flipped.
		{"a sealed hello seals the link", live, sealedHello(a), time.Second,
			func(m *linkModel, now time.Time) { heard(m, now); m.sealed = true },
			effects{}},
		{"an unsealed hello from a sealed tile is bad",
			func() linkModel { m := live; m.sealed, m.uptime = true, 3600; return m }(), hello(a), time.Second,
			func(m *linkModel, _ time.Time) { m.badHellos++ },
			effects{}},
		{"restart between sealed hellos",
			func() linkModel { m := live; m.sealed, m.uptime = true, 3600; return m }(), sealedHello(a), time.Second,
			func(m *linkModel, now time.Time) {
				heard(m, now)
				m.since, m.srtt, m.connectedAt, m.connects, m.restartedAt = now, 0, now, 2, now
			},
			effects{events: []p2p.Event{disconnect(a), connect(a)}}},
		{"restart from an unsealed hello to a sealed one: an upgrade from version 2",
			func() linkModel { m := live; m.uptime = 3600; return m }(), sealedHello(a), time.Second,
			func(m *linkModel, now time.Time) {
				heard(m, now)
				m.since, m.srtt, m.connectedAt, m.connects, m.restartedAt, m.sealed = now, 0, now, 2, now, true
			},
			effects{events: []p2p.Event{disconnect(a), connect(a)}}},
		{"an unsealed hello from another tile while a sealed one is live is bad",
			func() linkModel { m := live; m.sealed = true; return m }(), hello(b), time.Hour,
			func(m *linkModel, _ time.Time) { m.badHellos++ },
			effects{}},

		// Refusals: counted, logged once per tile, nothing else changes.
		{"other tile inside hold is refused and logged", live, hello(b), time.Second,
			func(m *linkModel, _ time.Time) { m.hellos, m.identityRefused, m.refusing = 2, 1, true },
			effects{refused: true, claimed: b}},
		{"refused again: counted, not logged",
			func() linkModel { m := live; m.identityRefused, m.refusing = 1, true; return m }(), hello(b), time.Second,
			func(m *linkModel, _ time.Time) { m.hellos, m.identityRefused = 2, 2 },
			effects{}},
		{"identity live on another link is refused", up,
			func() input { in := hello(a); in.elsewhere = true; return in }(), time.Hour,
			func(m *linkModel, _ time.Time) { m.hellos, m.identityRefused, m.refusing = 1, 1, true },
			effects{refused: true, claimed: a}},
		{"other tile after a link cut, inside hold",
			linkModel{dir: packet.ET, tile: a, since: t0, connectedAt: t0, connects: 1}, hello(b), 3 * time.Second,
			func(m *linkModel, _ time.Time) { m.hellos, m.identityRefused, m.refusing = 1, 1, true },
			effects{refused: true, claimed: b}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			now := t0.Add(c.after)
			want := c.before
			if c.change != nil {
				c.change(&want, now)
			}
			m := c.before
			fx := m.step(c.in, now, rules)
			if m != want {
				t.Errorf("model\n got %+v\nwant %+v", m, want)
			}
			if !reflect.DeepEqual(fx, c.fx) {
				t.Errorf("effects\n got %+v\nwant %+v", fx, c.fx)
			}
		})
	}
}

func TestRestartedSince(t *testing.T) {
	cases := []struct {
		name       string
		uptime, ts uint32 // the last hello's
		h          Hello
		want       bool
	}{
		{"the same daemon, later", 9, 9000, Hello{Uptime: 9, TS: 9250}, false},
		{"the same daemon, next second", 9, 9900, Hello{Uptime: 10, TS: 10150}, false},
		{"the same hello again", 9, 9000, Hello{Uptime: 9, TS: 9000}, false},
		{"uptime went back", 3600, 3600000, Hello{Uptime: 0, TS: 300}, true},
		{"uptime went back two seconds", 2, 2100, Hello{Uptime: 0, TS: 400}, true},
		{"two hellos the wrong way round a second apart", 10, 10001, Hello{Uptime: 9, TS: 9999}, false},
		{"clock went back in the first second", 0, 800, Hello{Uptime: 0, TS: 150}, true},
		{"a restart after one second of uptime", 1, 1500, Hello{Uptime: 0, TS: 200}, true},
		{"two hellos the wrong way round in the first second", 0, 800, Hello{Uptime: 0, TS: 799}, false},
		{"clock went back by restartSlack only", 0, 300, Hello{Uptime: 0, TS: 200}, false},
		{"clock wrapped after 49.7 days", 1<<32/1000 - 1, 1<<32 - 100, Hello{Uptime: 1 << 32 / 1000, TS: 150}, false},
		{"first hello ever (nothing heard)", 0, 0, Hello{Uptime: 0, TS: 1}, false},
	}
	for _, c := range cases {
		if got := restartedSince(c.uptime, c.ts, c.h); got != c.want {
			t.Errorf("%s: restartedSince = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestLinkModelEcho(t *testing.T) {
	t0 := time.Unix(1000, 0)
	rules := linkRules{deadAfter: 2 * time.Second}
	heard := linkModel{peerTS: 77, peerTSAt: t0}
	cases := []struct {
		name     string
		m        linkModel
		after    time.Duration
		ts, held uint32
	}{
		{"nothing heard yet", linkModel{}, time.Second, 0, 0},
		{"heard just now", heard, 0, 77, 0},
		{"heard 1.5 s ago", heard, 1500 * time.Millisecond, 77, 1500},
		{"heard dead_after ago: too old", heard, 2 * time.Second, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts, held := c.m.echo(t0.Add(c.after), rules)
			if ts != c.ts || held != c.held {
				t.Fatalf("echo %d held %d ms, want %d held %d ms", ts, held, c.ts, c.held)
			}
		})
	}
}

// TestLinkModelSequences feeds seeded random inputs and checks what a
// consumer relies on after every step: events alternate connect and
// disconnect starting with a connect, a disconnect names the tile that
// connected, the link is live exactly after a connect, and connects
// counts the connect events.
func TestLinkModelSequences(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	rules := linkRules{deadAfter: 2 * time.Second, identityHold: 10 * time.Second}
	tiles := []p2p.TileID{{1}, {2}, {3}}
	for run := range 200 {
		m := linkModel{dir: packet.NE}
		now := time.Unix(1000, 0)
		var live bool
		var liveTile p2p.TileID
		var connects uint64
		for i := range 300 {
			now = now.Add(time.Duration(rng.Intn(3000)) * time.Millisecond)
			var in input
			switch rng.Intn(6) {
			case 0:
				in.kind = inLinkUp
			case 1:
				in.kind = inLinkDown
			case 2:
				in.kind = inTick
			case 3:
				in.kind = inBadHello
			default:
				in = input{kind: inHello, hello: Hello{Version: 1, Tile: tiles[rng.Intn(len(tiles))], TS: 1},
					elsewhere: rng.Intn(10) == 0, clock: rng.Uint32()}
				in.hello.EchoTS = rng.Uint32()
			}
			fx := m.step(in, now, rules)
			for _, e := range fx.events {
				switch {
				case e.Dir != packet.NE:
					t.Fatalf("run %d step %d: event on %v", run, i, e.Dir)
				case e.Kind == packet.EventConnect && live, e.Kind == packet.EventDisconnect && !live:
					t.Fatalf("run %d step %d: %v while live=%v", run, i, e.Kind, live)
				case e.Kind == packet.EventDisconnect && e.Tile != liveTile:
					t.Fatalf("run %d step %d: disconnect of %v, but %v connected", run, i, e.Tile, liveTile)
				}
				live, liveTile = e.Kind == packet.EventConnect, e.Tile
				if live {
					connects++
				}
			}
			if (m.state == Live) != live || m.connects != connects {
				t.Fatalf("run %d step %d: state %v, %d connects; events say live=%v, %d connects", run, i, m.state, m.connects, live, connects)
			}
			if live && m.tile != liveTile {
				t.Fatalf("run %d step %d: tile %v, events say %v", run, i, m.tile, liveTile)
			}
			if in.kind == inLinkDown && m.state != Absent {
				t.Fatalf("run %d step %d: link down but state %v", run, i, m.state)
			}
		}
	}
}
