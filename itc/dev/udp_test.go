package dev

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// udpPair opens two UDP devices on loopback joined by one link: a's ET is
// b's WT. mod may adjust either configuration before opening.
func udpPair(t testing.TB, mod func(a, b *UDPConfig)) (a, b *UDP) {
	t.Helper()
	ca, cb := listenLoopback(t), listenLoopback(t)
	cfgA := UDPConfig{
		Conn:      ca,
		Links:     map[packet.Dir]string{packet.ET: cb.LocalAddr().String()},
		Keepalive: 20 * time.Millisecond,
		DownAfter: 2 * time.Second,
		Seed:      1,
		Logger:    quietLog,
	}
	cfgB := cfgA
	cfgB.Conn = cb
	cfgB.Links = map[packet.Dir]string{packet.WT: ca.LocalAddr().String()}
	cfgB.Seed = 2
	if mod != nil {
		mod(&cfgA, &cfgB)
	}
	a, err := OpenUDP(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err = OpenUDP(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

func listenLoopback(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitUp(t testing.TB, a, b *UDP) {
	t.Helper()
	waitFor(t, "link up at both ends", func() bool { return a.Status().Up(packet.ET) && b.Status().Up(packet.WT) })
}

// writeAll writes p, retrying while the outbound queue is full (and while
// the link is down: on a badly loaded machine a link with a short
// DownAfter may flap, which is not what the callers test).
func writeAll(t testing.TB, d Device, p []byte) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := d.WritePacket(p)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrWouldBlock) && !errors.Is(err, ErrLinkDown) || time.Now().After(deadline) {
			t.Fatalf("write: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}

// readTimeout reads one packet or fails after a generous deadline.
func readTimeout(t testing.TB, d Device) []byte {
	t.Helper()
	type res struct {
		p   []byte
		err error
	}
	c := make(chan res, 1)
	go func() {
		buf := make([]byte, packet.MaxLen)
		n, err := d.ReadPacket(buf)
		c <- res{buf[:n], err}
	}()
	select {
	case r := <-c:
		if r.err != nil {
			t.Fatalf("read: %v", r.err)
		}
		return r.p
	case <-time.After(10 * time.Second):
		t.Fatal("no packet within 10s")
	}
	return nil
}

func TestUDPLinkUpAndTransfer(t *testing.T) {
	a, b := udpPair(t, nil)
	for _, d := range []*UDP{a, b} {
		select {
		case <-d.StatusChanges():
		case <-time.After(10 * time.Second):
			t.Fatal("no status change notification")
		}
	}
	waitUp(t, a, b)
	if got := a.Status(); got != (Status{packet.ET: LinkMFM}) {
		t.Fatalf("a status %v", got)
	}
	mfm, _ := packet.AppendMFM(nil, packet.ET, false, false, []byte("atoms"))
	for _, tc := range []struct {
		name     string
		from, to *UDP
		p        []byte
		arrive   packet.Dir
	}{
		{"service a to b", a, b, service(t, packet.ET, "hello over ET"), packet.WT},
		{"service b to a", b, a, service(t, packet.WT, strings.Repeat("\xff", packet.MaxServicePayload)), packet.ET},
		{"mfm a to b", a, b, mfm, packet.WT},
		{"empty service payload", b, a, service(t, packet.WT, ""), packet.ET},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.from.WritePacket(tc.p); err != nil {
				t.Fatal(err)
			}
			got := readTimeout(t, tc.to)
			if d, ok := packet.RoutedDir(got); !ok || d != tc.arrive {
				t.Fatalf("arrived with DIR %v, want %v", d, tc.arrive)
			}
			want := bytes.Clone(tc.p)
			packet.SetArrival(want, tc.arrive)
			if !bytes.Equal(got, want) {
				t.Fatalf("got % x, want % x", got, want)
			}
		})
	}
	// The counters move just after the socket call: poll.
	waitFor(t, "counters", func() bool {
		st := a.Stats().Links[packet.ET]
		return st.SentPackets == 2 && st.RecvPackets == 2 && st.KeepalivesSent > 0 && st.KeepalivesRecv > 0
	})
}

func TestUDPWriteErrors(t *testing.T) {
	a, b := udpPair(t, nil)
	waitUp(t, a, b)
	for _, tc := range []struct {
		name string
		p    []byte
		want error
	}{
		{"empty", nil, packet.ErrEmpty},
		{"too long", append([]byte{0x82, 2}, make([]byte, 254)...), packet.ErrTooLong},
		{"service 0", []byte{0x82, 0}, packet.ErrService0},
		{"direction NT", []byte{0x80, 2}, packet.ErrNoLink},
		{"local", []byte{0xC1, 1}, ErrNotRouted},
		{"tep", []byte{0xC4, 1, 2}, ErrNotRouted},
		{"nonstandard", []byte{'x'}, ErrNotRouted},
		{"no neighbour on NE", service(t, packet.NE, "x"), ErrLinkDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := a.WritePacket(tc.p); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	a.Close()
	if err := a.WritePacket(service(t, packet.ET, "x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := a.ReadPacket(make([]byte, 255)); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
	if a.Status() != (Status{}) {
		t.Fatalf("status after Close %v", a.Status())
	}
}

func TestUDPReadUnblocksOnClose(t *testing.T) {
	a, _ := udpPair(t, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := a.ReadPacket(make([]byte, 255))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	a.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadPacket blocked after Close")
	}
}

func TestUDPBadDatagrams(t *testing.T) {
	a, b := udpPair(t, nil)
	waitUp(t, a, b)
	to := a.conn.LocalAddr().(*net.UDPAddr).AddrPort()

	// From an unknown address.
	stranger := listenLoopback(t)
	defer stranger.Close()
	for _, g := range [][]byte{{}, {frameMagic, framePacket, byte(packet.WT), 0x82, 2, 'x'}, bytes.Repeat([]byte{0xff}, 1000)} {
		stranger.WriteToUDPAddrPort(g, to)
	}
	waitFor(t, "unknown sources counted", func() bool { return a.Stats().UnknownSource == 3 })

	// From the neighbour's own address (its socket), but malformed.
	pkt := func(p ...byte) []byte { return append([]byte{frameMagic, framePacket, byte(packet.WT)}, p...) }
	bad := [][]byte{
		{},
		{frameMagic},
		{frameMagic, framePacket},
		{0x55, framePacket, byte(packet.WT), 0x82, 2},    // wrong magic
		{frameMagic, 9, byte(packet.WT), 0x82, 2},        // unknown frame type
		{frameMagic, frameKeepalive, byte(packet.WT), 1}, // keepalive with a tail
		pkt(),                     // packet frame without a packet
		pkt(0x82, 0),              // service 0
		pkt(0x82),                 // service packet without service byte
		pkt(0xC1, 5),              // local packet: never travels on a link
		pkt('A'),                  // non-standard packet
		pkt(0xC0),                 // illegal local
		pkt(make([]byte, 256)...), // oversized
		append(pkt(0x82, 2), make([]byte, 2000)...),
	}
	for _, g := range bad {
		if _, err := b.conn.WriteToUDPAddrPort(g, to); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "bad datagrams counted", func() bool { return a.Stats().BadDatagram == uint64(len(bad)) })

	// Right address, wrong direction: a miswired neighbour.
	b.conn.WriteToUDPAddrPort([]byte{frameMagic, framePacket, byte(packet.NE), 0x82, 2, 'm'}, to)
	b.conn.WriteToUDPAddrPort([]byte{frameMagic, frameKeepalive, byte(packet.SE)}, to)
	waitFor(t, "misrouted counted", func() bool { return a.Stats().Links[packet.ET].Misrouted == 2 })

	// Random garbage from the neighbour: the reader survives it.
	r := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 100; i++ {
		g := make([]byte, r.IntN(300))
		for j := range g {
			g[j] = byte(r.Uint32())
		}
		if len(g) > 3 && i%2 == 0 {
			copy(g, []byte{frameMagic, framePacket, byte(packet.WT)})
		}
		b.conn.WriteToUDPAddrPort(g, to)
	}
	// Nothing of the above reached the reader, and it still works.
	p := service(t, packet.WT, "still alive")
	writeAll(t, b, p)
	for {
		got := readTimeout(t, a)
		if bytes.Equal(got[1:], p[1:]) {
			break
		}
		// Random garbage may decode as a routed packet: it arrives on ET.
		if d, ok := packet.RoutedDir(got); !ok || d != packet.ET {
			t.Fatalf("delivered % x", got)
		}
	}
}

func TestUDPDownWhenPeerCloses(t *testing.T) {
	a, b := udpPair(t, func(a, b *UDPConfig) { a.DownAfter, b.DownAfter = 300*time.Millisecond, 300*time.Millisecond })
	waitUp(t, a, b)
	b.Close()
	waitFor(t, "a's ET down", func() bool { return !a.Status().Up(packet.ET) })
	if err := a.WritePacket(service(t, packet.ET, "x")); !errors.Is(err, ErrLinkDown) {
		t.Fatalf("write on a down link: %v", err)
	}
}

func TestUDPCut(t *testing.T) {
	a, b := udpPair(t, func(a, b *UDPConfig) { a.DownAfter, b.DownAfter = 300*time.Millisecond, 300*time.Millisecond })
	waitUp(t, a, b)
	if err := a.SetProfile(packet.ET, LinkProfile{Cut: true}); err != nil {
		t.Fatal(err)
	}
	if a.Status().Up(packet.ET) {
		t.Fatal("cut link still up at the cutting end")
	}
	if err := a.WritePacket(service(t, packet.ET, "x")); !errors.Is(err, ErrLinkDown) {
		t.Fatalf("write on a cut link: %v", err)
	}
	waitFor(t, "far end down", func() bool { return !b.Status().Up(packet.WT) })
	if err := a.SetProfile(packet.ET, LinkProfile{}); err != nil {
		t.Fatal(err)
	}
	waitUp(t, a, b)
	if a.Stats().Links[packet.ET].CutDropped == 0 {
		t.Error("no keepalives from b counted as dropped on the cut link")
	}
	writeAll(t, a, service(t, packet.ET, "after"))
	if got := readTimeout(t, b); string(got[2:]) != "after" {
		t.Fatalf("got %q", got)
	}
	if err := a.SetProfile(packet.NE, LinkProfile{}); err == nil {
		t.Error("SetProfile on a link without neighbour succeeded")
	}
}

func TestUDPInboundOverflow(t *testing.T) {
	a, b := udpPair(t, func(a, b *UDPConfig) { b.InQueueBytes = 1000 })
	waitUp(t, a, b)
	p := service(t, packet.ET, strings.Repeat("i", packet.MaxServicePayload))
	const n = 20
	for i := 0; i < n; i++ {
		writeAll(t, a, p)
	}
	waitFor(t, "all accounted for", func() bool {
		s := b.Stats().Links[packet.WT]
		return s.RecvPackets+s.InDropped == n
	})
	s := b.Stats().Links[packet.WT]
	if s.RecvPackets != uint64(1000/len(p)) || s.InDropped != n-s.RecvPackets {
		t.Fatalf("received %d, dropped %d", s.RecvPackets, s.InDropped)
	}
	for i := uint64(0); i < s.RecvPackets; i++ {
		readTimeout(t, b)
	}
	// Room again.
	writeAll(t, a, service(t, packet.ET, "more"))
	if got := readTimeout(t, b); string(got[2:]) != "more" {
		t.Fatalf("got %q", got)
	}
}

func TestUDPOutboundFull(t *testing.T) {
	a, b := udpPair(t, func(a, b *UDPConfig) {
		a.OutQueueBytes = 1000
		a.Profile.Rate = 100 // bytes/s: nothing leaves during the test
	})
	waitUp(t, a, b)
	p := service(t, packet.ET, strings.Repeat("o", 198)) // 200 bytes
	var err error
	writes := 0
	for ; writes < 20; writes++ {
		if err = a.WritePacket(p); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("after %d writes: %v", writes, err)
	}
	// The pacing burst lets one packet leave at once; the queue holds 5.
	if writes < 5 || writes > 7 {
		t.Fatalf("queue took %d packets of 200 bytes, want 5..7", writes)
	}
	if got := a.Stats().Links[packet.ET].OutFull; got != 1 {
		t.Fatalf("OutFull %d", got)
	}
	// Lift the limit: the queue drains.
	a.SetProfile(packet.ET, LinkProfile{})
	for i := 0; i < writes; i++ {
		readTimeout(t, b)
	}
	writeAll(t, a, p)
}

func TestUDPRate(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 2s or more")
	}
	const rate = 32000
	a, b := udpPair(t, func(a, b *UDPConfig) { a.Profile.Rate = rate })
	waitUp(t, a, b)
	p := service(t, packet.ET, strings.Repeat("r", packet.MaxServicePayload))
	done := make(chan struct{})
	defer close(done)
	go func() { // keep the outbound queue full: half a second of backlog
		for {
			select {
			case <-done:
				return
			default:
			}
			if a.WritePacket(p) != nil {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	go func() { // drain
		buf := make([]byte, packet.MaxLen)
		for {
			if _, err := b.ReadPacket(buf); err != nil {
				return
			}
		}
	}()
	// Count what arrived, queued for the reader or dropped because the
	// drainer was slow: the rate is the link's, not the reader's.
	recv := func() (float64, time.Time) {
		st := b.Stats().Links[packet.WT]
		return float64(st.RecvBytes + st.InDropped*uint64(len(p))), time.Now()
	}
	waitFor(t, "first packets", func() bool { n, _ := recv(); return n > 0 })
	// The pacing is exact while the queue has a backlog: a pump that woke
	// late catches up. What a loaded machine disturbs is when this test
	// samples the counter, so the rate is measured from one start over a
	// growing window (2s, 4s, 6s), and the first within 5% passes.
	n0, t0 := recv()
	var got []float64
	for try := 0; try < 3; try++ {
		time.Sleep(2 * time.Second)
		n1, t1 := recv()
		r := (n1 - n0) / t1.Sub(t0).Seconds()
		t.Logf("configured %d B/s, received %.0f B/s over %v", rate, r, t1.Sub(t0))
		if r >= rate*0.95 && r <= rate*1.05 {
			return
		}
		got = append(got, r)
	}
	t.Fatalf("received %.0f B/s, configured %d B/s (want within 5%%)", got, rate)
}

// sendSequence sends n service packets whose payloads carry their number,
// waits until the far end has accounted for every datagram that left and
// returns what b read.
func sendSequence(t *testing.T, a, b *UDP, n int) [][]byte {
	t.Helper()
	for i := 0; i < n; i++ {
		writeAll(t, a, seqPacket(t, i))
	}
	waitFor(t, "all departed", func() bool {
		s := a.Stats().Links[packet.ET]
		return s.SentPackets+s.Lost-s.Duplicated == uint64(n)
	})
	sent := a.Stats().Links[packet.ET].SentPackets
	waitFor(t, "all arrived", func() bool {
		s := b.Stats()
		return s.Links[packet.WT].RecvPackets+s.Links[packet.WT].InDropped+s.BadDatagram == sent
	})
	var got [][]byte
	for i := uint64(0); i < b.Stats().Links[packet.WT].RecvPackets; i++ {
		got = append(got, readTimeout(t, b))
	}
	return got
}

func seqPacket(t testing.TB, i int) []byte {
	return service(t, packet.ET, fmt.Sprintf("packet %04d %s", i, strings.Repeat("-", 80)))
}

func TestUDPImpairments(t *testing.T) {
	const n = 200
	for _, tc := range []struct {
		name string
		prof LinkProfile
	}{
		{"none", LinkProfile{}},
		{"loss", LinkProfile{Loss: 0.5}},
		{"duplicate", LinkProfile{Duplicate: 0.5}},
		{"corrupt", LinkProfile{Corrupt: 0.5}},
		{"delay", LinkProfile{Delay: 30 * time.Millisecond, Duplicate: 0.2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := udpPair(t, func(a, b *UDPConfig) {
				a.Profile = tc.prof
				a.Seed = 42
				b.InQueueBytes = 1 << 16
			})
			waitUp(t, a, b)
			got := sendSequence(t, a, b, n)
			sa, sb := a.Stats(), b.Stats()
			ls := sa.Links[packet.ET]
			want := make(map[string]bool)
			var originals [][]byte
			for i := 0; i < n; i++ {
				p := seqPacket(t, i)
				packet.SetArrival(p, packet.WT)
				want[string(p)] = true
				originals = append(originals, p)
			}
			changed := 0
			for _, p := range got {
				if !want[string(p)] {
					changed++
					if !nearOriginal(p, originals) {
						t.Errorf("packet % x is more than 3 bits from any sent", p)
					}
				}
			}
			if tc.prof.Loss == 0 && ls.Lost != 0 || tc.prof.Duplicate == 0 && ls.Duplicated != 0 || tc.prof.Corrupt == 0 && (ls.Corrupted != 0 || changed != 0) {
				t.Fatalf("impairment not configured happened: %+v, %d changed", ls, changed)
			}
			if tc.prof.Loss > 0 && (ls.Lost == 0 || len(got) != n-int(ls.Lost)) {
				t.Fatalf("loss: lost %d, received %d of %d", ls.Lost, len(got), n)
			}
			if tc.prof.Duplicate > 0 && (ls.Duplicated == 0 || len(got) != n+int(ls.Duplicated)) {
				t.Fatalf("duplicate: duplicated %d, received %d of %d", ls.Duplicated, len(got), n)
			}
			if tc.prof.Corrupt > 0 {
				if ls.Corrupted == 0 || changed == 0 || uint64(changed)+sb.BadDatagram > ls.Corrupted || len(got)+int(sb.BadDatagram) != n {
					t.Fatalf("corrupt: corrupted %d, changed %d, bad %d, received %d", ls.Corrupted, changed, sb.BadDatagram, len(got))
				}
			} else if sb.BadDatagram != 0 {
				t.Fatalf("bad datagrams %d", sb.BadDatagram)
			}
			if tc.prof == (LinkProfile{}) || tc.prof.Delay > 0 {
				// In order, nothing missing, duplicates adjacent.
				i := 0
				for _, p := range got {
					switch {
					case i < n && bytes.Equal(p, originals[i]):
						i++
					case i > 0 && bytes.Equal(p, originals[i-1]):
					default:
						t.Fatalf("out of order at %d: %q", i, p)
					}
				}
				if i != n {
					t.Fatalf("got %d of %d", i, n)
				}
			}
			t.Logf("%+v", ls)
		})
	}
}

func nearOriginal(p []byte, originals [][]byte) bool {
	for _, o := range originals {
		if len(o) != len(p) {
			continue
		}
		d := 0
		for i := range o {
			d += bits.OnesCount8(o[i] ^ p[i])
		}
		if d <= 3 {
			return true
		}
	}
	return false
}

// TestUDPSeedReproducible checks two runs with one seed lose the same
// packets.
func TestUDPSeedReproducible(t *testing.T) {
	run := func() []byte {
		a, b := udpPair(t, func(a, b *UDPConfig) {
			a.Profile = LinkProfile{Loss: 0.3, Corrupt: 0.2}
			a.Seed = 99
			b.InQueueBytes = 1 << 16
		})
		waitUp(t, a, b)
		var all []byte
		for _, p := range sendSequence(t, a, b, 100) {
			all = append(all, p...)
		}
		return all
	}
	if !bytes.Equal(run(), run()) {
		t.Fatal("same seed, different outcome")
	}
}

func TestUDPDelay(t *testing.T) {
	const delay = 100 * time.Millisecond
	a, b := udpPair(t, func(a, b *UDPConfig) { a.Profile.Delay = delay })
	waitUp(t, a, b)
	start := time.Now()
	writeAll(t, a, service(t, packet.ET, "late"))
	readTimeout(t, b)
	if el := time.Since(start); el < delay {
		t.Fatalf("arrived after %v, before the %v delay", el, delay)
	}
}

func TestLinkProfileValidate(t *testing.T) {
	for _, tc := range []struct {
		p  LinkProfile
		ok bool
	}{
		{LinkProfile{}, true},
		{LinkProfile{Rate: 65536, Delay: time.Millisecond, Loss: 1, Duplicate: 0.1, Corrupt: 0.01, Cut: true}, true},
		{LinkProfile{Rate: -1}, false},
		{LinkProfile{Delay: -1}, false},
		{LinkProfile{Delay: time.Hour}, false},
		{LinkProfile{Loss: 1.01}, false},
		{LinkProfile{Duplicate: -0.1}, false},
		{LinkProfile{Corrupt: nan()}, false},
	} {
		if err := tc.p.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.p, err)
		}
	}
}

func nan() float64 { z := 0.0; return z / z }

func TestOpenUDPErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  UDPConfig
		want string
	}{
		{"NT", UDPConfig{Links: map[packet.Dir]string{packet.NT: "127.0.0.1:9"}}, "not a T2 link"},
		{"same address", UDPConfig{Links: map[packet.Dir]string{packet.ET: "127.0.0.1:9", packet.WT: "127.0.0.1:9"}}, "both go to"},
		{"bad address", UDPConfig{Links: map[packet.Dir]string{packet.ET: "no port"}}, "link ET"},
		{"keepalive", UDPConfig{Keepalive: time.Second, DownAfter: time.Second}, "must exceed"},
		{"profile", UDPConfig{Profile: LinkProfile{Loss: 2}}, "loss"},
		{"listen", UDPConfig{Listen: "256.0.0.1:0"}, "listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Logger = quietLog
			u, err := OpenUDP(tc.cfg)
			if err == nil {
				u.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	u, err := OpenUDP(UDPConfig{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if ap, err := netip.ParseAddrPort(u.LocalAddr().String()); err != nil || !ap.Addr().IsLoopback() {
		t.Fatalf("default listen %v", u.LocalAddr())
	}
}

// TestUDPHotPathAllocs checks a write and a read allocate nothing.
func TestUDPHotPathAllocs(t *testing.T) {
	a, b := udpPair(t, func(a, b *UDPConfig) { b.InQueueBytes = 1 << 16 })
	waitUp(t, a, b)
	p := service(t, packet.ET, "no garbage")
	buf := make([]byte, packet.MaxLen)
	allocs := testing.AllocsPerRun(200, func() {
		for a.WritePacket(p) != nil {
		}
		if _, err := b.ReadPacket(buf); err != nil {
			t.Fatal(err)
		}
	})
	// AllocsPerRun counts every goroutine: the pump, reader and keepalive
	// loops are included. Allow a little for runtime noise.
	if allocs > 0.5 {
		t.Fatalf("%.2f allocations per packet", allocs)
	}
}
