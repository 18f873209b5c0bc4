package daemon

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/internal/ratelog"
	"github.com/t2tiles/itcd/internal/syncbuf"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// A neighbour that says hello with a new identity on every packet once
// made a connect and a disconnect of each, for every service and client,
// and a log line of each: 98 MB of log in 20 s. Now the first identity
// holds the link, the rest are counted, and the log says so once.
func TestIdentityFloodHoldsTheLink(t *testing.T) {
	cfg := testConfig(t)
	cfg.HelloInterval = conf.Duration(time.Hour) // the test drives every hello
	cfg.DeadAfter = conf.Duration(2 * time.Hour)
	var sink syncbuf.Buffer
	log := slog.New(ratelog.New(slog.NewTextHandler(&sink, nil),
		ratelog.Config{Burst: cfg.LogBurst, Every: cfg.LogEvery.D(), MaxKinds: 64}))
	svc := &echoService{}
	dm, err := New(cfg, Options{Device: newStuckDevice(), Services: []p2p.Service{svc}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	const hellos = 20000
	for i := range hellos {
		var id p2p.TileID
		id[0], id[1], id[2] = 0xaa, byte(i>>8), byte(i)
		pkt, err := packet.AppendService(nil, packet.ET, packet.ServiceLiveness, helloFrom(id))
		if err != nil {
			t.Fatal(err)
		}
		dm.demux(pkt)
	}
	ls := dm.Status().Links[indexOf(packet.ET)]
	if ls.Connects != 1 || ls.State != control.Live {
		t.Fatalf("ET: %d connects, state %v; want the first identity to hold the link", ls.Connects, ls.State)
	}
	if ls.IdentityRefused != hellos-1 {
		t.Fatalf("identity_refused = %d, want %d", ls.IdentityRefused, hellos-1)
	}
	if n := len(dm.inproc[0].events); n != 1 {
		t.Fatalf("the service was handed %d events, want the one connect", n)
	}
	out := sink.String()
	if got := strings.Count(out, "claims an identity it cannot have"); got != 1 {
		t.Fatalf("the refusal was logged %d times, want once:\n%s", got, out)
	}
	if lines := strings.Count(out, "\n"); lines > 10 {
		t.Fatalf("%d log lines for one hostile link:\n%s", lines, out)
	}
}

// A neighbour alone on its link whose identity times out while its
// forged hellos are ignored does not connect the next identity at once:
// the hold runs from the last connect, whatever came between.
func TestHoldOutlastsTimeout(t *testing.T) {
	cfg := testConfig(t)
	cfg.HelloInterval = conf.Duration(time.Hour)
	cfg.DeadAfter = conf.Duration(2 * time.Hour)
	r := startDaemon(t, cfg, newStuckDevice())
	r.nbr.heard(r.Daemon, packet.ET, helloFrom(p2p.TileID{1}))
	r.disconnect(packet.ET) // as the liveness deadline would
	r.nbr.heard(r.Daemon, packet.ET, helloFrom(p2p.TileID{2}))
	ls := r.Status().Links[indexOf(packet.ET)]
	if ls.Connects != 1 || ls.State == control.Live || ls.IdentityRefused != 1 {
		t.Fatalf("ET after a timeout and another identity: %d connects, %v, %d refused; want 1, not live, 1",
			ls.Connects, ls.State, ls.IdentityRefused)
	}
	// The tile that timed out may come back at once.
	r.nbr.heard(r.Daemon, packet.ET, helloFrom(p2p.TileID{1}))
	if ls := r.Status().Links[indexOf(packet.ET)]; ls.Connects != 2 || ls.State != control.Live {
		t.Fatalf("the same tile back: %d connects, %v", ls.Connects, ls.State)
	}
}

// A neighbour that claims the identity of a tile live on another link is
// an impostor: refused, so it can neither be taken for that tile nor get
// the honest tile blamed for what it does.
func TestIdentityLiveElsewhereRefused(t *testing.T) {
	cfg := testConfig(t)
	cfg.HelloInterval = conf.Duration(time.Hour)
	cfg.DeadAfter = conf.Duration(2 * time.Hour)
	r := startDaemon(t, cfg, newStuckDevice())
	honest := p2p.TileID{7}
	r.nbr.heard(r.Daemon, packet.WT, helloFrom(honest))
	r.nbr.heard(r.Daemon, packet.ET, helloFrom(honest))
	st := r.Status()
	if et := st.Links[indexOf(packet.ET)]; et.State == control.Live || et.IdentityRefused != 1 {
		t.Fatalf("ET claiming WT's live tile: %v, %d refused; want not live, 1", et.State, et.IdentityRefused)
	}
	if wt := st.Links[indexOf(packet.WT)]; wt.State != control.Live || wt.Connects != 1 {
		t.Fatalf("the honest tile on WT: %v, %d connects", wt.State, wt.Connects)
	}
}

// A tile that really replaces another (after IdentityHold) is a
// disconnect of the old one and a connect of the new, in that order.
func TestReplacementAfterHold(t *testing.T) {
	cfg := testConfig(t)
	cfg.HelloInterval = conf.Duration(time.Hour)
	cfg.DeadAfter = conf.Duration(2 * time.Hour)
	cfg.IdentityHold = conf.Duration(time.Nanosecond)
	r := startDaemon(t, cfg, newStuckDevice())
	sub := r.hub.Subscribe(16)
	defer sub.Close()
	r.nbr.heard(r.Daemon, packet.ET, helloFrom(p2p.TileID{1}))
	r.nbr.heard(r.Daemon, packet.ET, helloFrom(p2p.TileID{2}))
	want := []p2p.Event{
		{Kind: packet.EventConnect, Dir: packet.ET, Tile: p2p.TileID{1}},
		{Kind: packet.EventDisconnect, Dir: packet.ET, Tile: p2p.TileID{1}},
		{Kind: packet.EventConnect, Dir: packet.ET, Tile: p2p.TileID{2}},
	}
	for i, w := range want {
		select {
		case e := <-sub.C():
			if e != w {
				t.Fatalf("event %d: %v, want %v", i, e, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d (%v) never came", i, w)
		}
	}
}

func indexOf(d packet.Dir) int {
	for i, l := range packet.Links {
		if l == d {
			return i
		}
	}
	panic("not a link")
}

// Status reports how many lines the tile's log rate limit dropped.
func TestStatusCountsSuppressedLogLines(t *testing.T) {
	cfg := testConfig(t)
	log := slog.New(ratelog.New(slog.NewTextHandler(&syncbuf.Buffer{}, nil),
		ratelog.Config{Burst: 1, Every: time.Hour, MaxKinds: 8}))
	dm, err := New(cfg, Options{Device: newStuckDevice(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		dm.log.Warn("the same line", "dir", "ET")
	}
	if got := dm.Status().LogSuppressed; got != 4 {
		t.Fatalf("log_suppressed = %d, want 4", got)
	}
}
