package dev

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

func TestNeedKeepalive(t *testing.T) {
	for _, tc := range []struct {
		name   string
		silent bool
		burst  int
		tick   uint64
		want   bool
	}{
		{"busy link, ordinary tick", false, 0, 3, false},
		{"silent link", true, 0, 3, true},
		{"handshake burst", false, 2, 3, true},
		{"last burst tick", false, 1, 5, true},
		{"refresh tick", false, 0, kaRefreshTicks, true},
		{"first tick is a refresh", false, 0, 0, true},
		{"tick after refresh", false, 0, kaRefreshTicks + 1, false},
	} {
		if got := needKeepalive(tc.silent, tc.burst, tc.tick); got != tc.want {
			t.Errorf("%s: needKeepalive(%v, %d, %d) = %v, want %v", tc.name, tc.silent, tc.burst, tc.tick, got, tc.want)
		}
	}
}

func TestBusyPeriod(t *testing.T) {
	const rate = 1000 // bytes/s: 100 bytes take 100ms
	ms := int64(time.Millisecond)
	for _, tc := range []struct {
		name             string
		departures       []int64 // departure times in ms, 100 bytes each
		ideal, actual    uint64  // ms added to the counters
		keptMin, keptMax float64
	}{
		{"on time", []int64{0, 100, 200, 300, 400, 500, 600, 700, 800, 900}, 1000, 1000, 1, 1},
		{"last one 5ms late", []int64{0, 100, 200, 300, 400, 500, 600, 700, 800, 905}, 1000, 1005, 0.99, 0.996},
		{"a starved clock", []int64{0, 100, 200, 300, 400, 500, 600, 700, 800, 1100}, 1000, 1200, 0.83, 0.84},
		{"too short to count", []int64{0, 100, 200}, 0, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c linkCounters
			var b busyPeriod
			for _, d := range tc.departures {
				b.departed(1+d*ms, 100, rate) // UDP.now is never 0
			}
			b.close(&c)
			s := c.snapshot()
			if s.BusyIdeal != tc.ideal*uint64(ms) || s.BusyActual != tc.actual*uint64(ms) {
				t.Fatalf("ideal %v actual %v, want %vms %vms", time.Duration(s.BusyIdeal), time.Duration(s.BusyActual), tc.ideal, tc.actual)
			}
			if k := s.RateKept(); k < tc.keptMin || k > tc.keptMax {
				t.Fatalf("rate kept %v, want %v..%v", k, tc.keptMin, tc.keptMax)
			}
			if b != (busyPeriod{}) {
				t.Fatalf("period not reset: %+v", b)
			}
		})
	}
}

// TestUDPKeepalivesOnlyWhenSilent checks a link that carries packets gets
// keepalives only on refresh ticks, while the silent way back gets one
// every tick, and both stay up.
func TestUDPKeepalivesOnlyWhenSilent(t *testing.T) {
	const ka = 50 * time.Millisecond
	a, b := udpPair(t, func(a, b *UDPConfig) { a.Keepalive, b.Keepalive = ka, ka; b.InQueueBytes = 1 << 20 })
	waitUp(t, a, b)
	p := service(t, packet.ET, "traffic")
	// Let the start-up handshake's keepalives pass, then count over 40
	// ticks while a sends every 5ms (far more often than 1.5 ticks).
	time.Sleep(kaBurstTicks * 2 * ka)
	a0, b0 := a.Stats().Links[packet.ET].KeepalivesSent, b.Stats().Links[packet.WT].KeepalivesSent
	start := time.Now()
	for time.Since(start) < 40*ka {
		writeAll(t, a, p)
		time.Sleep(5 * time.Millisecond)
	}
	ticks := uint64(time.Since(start) / ka)
	aKA := a.Stats().Links[packet.ET].KeepalivesSent - a0
	bKA := b.Stats().Links[packet.WT].KeepalivesSent - b0
	t.Logf("%d ticks: %d keepalives on the busy link, %d on the silent one", ticks, aKA, bKA)
	// Refresh ticks alone give ticks/8; allow as many again for a loaded
	// machine's late writes.
	if aKA > ticks/4+2 {
		t.Errorf("busy link sent %d keepalives in %d ticks, want about %d (refreshes only)", aKA, ticks, ticks/kaRefreshTicks)
	}
	if bKA < ticks/2 {
		t.Errorf("silent link sent %d keepalives in %d ticks, want about one a tick", bKA, ticks)
	}
	if !a.Status().Up(packet.ET) || !b.Status().Up(packet.WT) {
		t.Errorf("link went down: %v %v", a.Status(), b.Status())
	}
}

// TestUDPRoom checks a writer refused by a full queue is told when it has
// room again, and then can write.
func TestUDPRoom(t *testing.T) {
	a, b := udpPair(t, func(a, b *UDPConfig) {
		a.Profile.Rate = 20000
		a.OutQueueBytes = 2000
		b.InQueueBytes = 1 << 20
	})
	waitUp(t, a, b)
	p := service(t, packet.ET, string(make([]byte, 180)))
	for i := 0; ; i++ {
		err := a.WritePacket(p)
		if errors.Is(err, ErrWouldBlock) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i > 1000 {
			t.Fatal("queue never filled")
		}
	}
	select {
	case <-a.Room():
	case <-time.After(20 * time.Second):
		t.Fatal("no room notice within 20s")
	}
	if err := a.WritePacket(p); err != nil {
		t.Fatalf("write after the room notice: %v", err)
	}
	if st := a.Stats().Links[packet.ET]; st.OutFull == 0 {
		t.Fatal("the refusal was not counted")
	}
}

// TestUDPPacingBesideAnIdleLink checks a paced link keeps going while
// another link of the device has nothing to send: the clock must not
// sleep until the next keepalive tick (here 10s away) because an idle
// link has no deadline.
func TestUDPPacingBesideAnIdleLink(t *testing.T) {
	ca, cb, cc := listenLoopback(t), listenLoopback(t), listenLoopback(t)
	open := func(c *net.UDPConn, links Links) *UDP {
		u, err := OpenUDP(UDPConfig{Conn: c, Links: links, Keepalive: 10 * time.Second, DownAfter: time.Minute,
			InQueueBytes: 1 << 20, Profile: LinkProfile{Rate: 65536}, Seed: 1, Logger: quietLog})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		return u
	}
	// b's ET (dir8 1) comes before its WT (dir8 5) in the device's list:
	// the busy link first, the idle one after it.
	a := open(ca, Links{packet.ET: cb.LocalAddr().String()})
	b := open(cb, Links{packet.WT: ca.LocalAddr().String(), packet.ET: cc.LocalAddr().String()})
	c := open(cc, Links{packet.WT: cb.LocalAddr().String()})
	waitFor(t, "links up", func() bool { return a.Status().Up(packet.ET) && b.Status().Up(packet.ET) && c.Status().Up(packet.WT) })
	p := service(t, packet.ET, string(make([]byte, 240)))
	const n = 40 // 10KB: about 150ms at the rate
	start := time.Now()
	for range n {
		writeAll(t, b, p)
	}
	for range n {
		readTimeout(t, c)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("%d paced packets took %v: the clock slept past their departure times", n, d)
	}
}
