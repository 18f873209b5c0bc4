package daemon

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
)

// linkStatus returns the status of link d.
func linkStatus(r *runningDaemon, d packet.Dir) control.LinkStatus {
	for _, l := range r.Status().Links {
		if l.Dir == d {
			return l
		}
	}
	return control.LinkStatus{}
}

// messageReader is an mfm.sock client connection.
type messageReader interface {
	Read([]byte) (int, error)
	SetReadDeadline(time.Time) error
}

// readMessage reads messages from c until one satisfies ok and returns it.
func readMessage(t *testing.T, c messageReader, what string, ok func([]byte) bool) []byte {
	t.Helper()
	buf := make([]byte, 512)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok(buf[:n]) {
			return buf[:n]
		}
	}
}

// readReply reads until an ASCII reply ("ok ..." or "error: ..."),
// skipping packets, and returns it.
func readReply(t *testing.T, c messageReader) string {
	t.Helper()
	return string(readMessage(t, c, "a reply", func(m []byte) bool { return len(m) > 0 && m[0]&packet.BitSTND == 0 }))
}

// The physics identity: the config default at start, mfmt2's from
// mfm.sock, TEP 3 and 4 as the two tiles agree and disagree, refused
// identities, MFM packets held back on an incompatible link, and the
// identity kept when mfmt2 leaves.
func TestMFZIDOverMFMSocket(t *testing.T) {
	a, b := dev.Pipe(packet.ET, 64)
	ca, cb := testConfig(t), testConfig(t)
	ca.MFZID = "demo[a]"
	da := startDaemon(t, ca, a)
	db := startDaemon(t, cb, b)
	eventually(t, "link live at both ends", func() bool { return db.nbr.isLive(packet.WT) && da.nbr.isLive(packet.ET) })
	if st := da.Status(); st.MFZID != "demo[a]" || st.MFZIDFrom != "config" || st.MFZIDError != "" {
		t.Fatalf("A's identity %q from %q (%q), want demo[a] from config", st.MFZID, st.MFZIDFrom, st.MFZIDError)
	}
	if l := linkStatus(db, packet.WT); l.MFMCompatible || l.Link != "up" {
		t.Fatalf("B's WT with different identities: %+v", l)
	}

	mb := dialPacket(t, filepath.Join(cb.RunDir, control.MFMSocket))
	expectTEP(t, mb, packet.EventConnect, packet.WT)
	mb.Write(AppendMFZIDMessage(nil, []byte("demo[a]")))
	if got := readReply(t, mb); got != "ok MFZID demo[a]" {
		t.Fatalf("reply %q", got)
	}
	expectTEP(t, mb, packet.EventMFMCompatible, packet.WT)
	eventually(t, "A sees ET compatible", func() bool { return linkStatus(da, packet.ET).MFMCompatible })

	// A's mfmt2 sends; B's receives.
	ma := dialPacket(t, filepath.Join(ca.RunDir, control.MFMSocket))
	expectTEP(t, ma, packet.EventConnect, packet.ET)
	expectTEP(t, ma, packet.EventMFMCompatible, packet.ET)
	pkt, _ := packet.AppendMFM(nil, packet.ET, false, false, []byte{0x20, 'x'})
	ma.Write(pkt)
	expectMFM(t, mb, packet.WT, "\x20x")

	// Too long, malformed: refused with a reason; the connection stays.
	for _, bad := range []string{"MFZID " + strings.Repeat("z", dev.MaxMFZID+1), "MFZID a b", "MFZIDx", "MFZID " + strings.Repeat("z", 300)} {
		mb.Write([]byte(bad))
		if got := readReply(t, mb); !strings.HasPrefix(got, "error: malformed MFZID message") {
			t.Fatalf("%.20q...: reply %q", bad, got)
		}
	}
	// Another identity: the link stops being compatible at both ends, and
	// what A's mfmt2 sends to it is counted, not sent.
	mb.Write(AppendMFZIDMessage(nil, []byte("demo[c]")))
	if got := readReply(t, mb); got != "ok MFZID demo[c]" {
		t.Fatalf("reply %q", got)
	}
	expectTEP(t, mb, packet.EventMFMIncompatible, packet.WT)
	expectTEP(t, ma, packet.EventMFMIncompatible, packet.ET)
	ma.Write(pkt)
	eventually(t, "A counted the MFM packet it held back", func() bool { return linkStatus(da, packet.ET).MFMIncompatible == 1 })
	if st := db.Status(); st.MFZID != "demo[c]" || st.MFZIDFrom != "mfm.sock" || st.MFMRefuse != 4 {
		t.Fatalf("B: identity %q from %q, %d refused", st.MFZID, st.MFZIDFrom, st.MFMRefuse)
	}

	// mfmt2 leaves: its identity stays.
	mb.Close()
	eventually(t, "B's mfm client gone", func() bool { return !db.Status().MFMClient })
	if st := db.Status(); st.MFZID != "demo[c]" || linkStatus(db, packet.WT).MFMCompatible {
		t.Fatalf("after mfmt2 left: identity %q, compatible %v", st.MFZID, linkStatus(db, packet.WT).MFMCompatible)
	}
}

// expectMFM reads until an MFM packet, which must come from link from
// with payload want.
func expectMFM(t *testing.T, c messageReader, from packet.Dir, want string) {
	t.Helper()
	m := readMessage(t, c, "an MFM packet", func(m []byte) bool {
		p, err := packet.Decode(m)
		return err == nil && p.Kind == packet.KindMFM
	})
	if p, _ := packet.Decode(m); p.Dir != from || string(p.Payload) != want {
		t.Fatalf("MFM packet %+v, want from %v %q", p, from, want)
	}
}

// refusingDevice is a pipe end whose device will not take an identity,
// as the kernel device when the MFM devices are left to mfmt2.
type refusingDevice struct{ *dev.PipeDevice }

var errLeftToMFMT2 = errors.New("MFM devices left to mfmt2 (mfm.kernel_devices = false)")

func (refusingDevice) SetMFZID([]byte) error { return errLeftToMFMT2 }

// A device that refuses the identity costs MFM only: the daemon runs,
// says why in the status and on mfm.sock, and hellos carry no digest.
func TestMFZIDRefusedByDevice(t *testing.T) {
	a, b := dev.Pipe(packet.NE, 64)
	ca, cb := testConfig(t), testConfig(t)
	ca.MFZID = "demo[a]"
	da := startDaemon(t, ca, refusingDevice{a})
	db := startDaemon(t, cb, b)
	eventually(t, "link live at both ends", func() bool { return db.nbr.isLive(packet.SW) && da.nbr.isLive(packet.NE) })
	st := da.Status()
	if st.MFZIDFrom != "config" || !strings.Contains(st.MFZIDError, errLeftToMFMT2.Error()) {
		t.Fatalf("identity %q from %q, error %q", st.MFZID, st.MFZIDFrom, st.MFZIDError)
	}
	if da.ownDigest().ok {
		t.Fatal("a digest for an identity the device does not hold")
	}
	// The pipe still holds "" at both ends: status alone says compatible.
	eventually(t, "both ends compatible", func() bool {
		return linkStatus(da, packet.NE).MFMCompatible && linkStatus(db, packet.SW).MFMCompatible
	})
	ma := dialPacket(t, filepath.Join(ca.RunDir, control.MFMSocket))
	expectTEP(t, ma, packet.EventConnect, packet.NE)
	ma.Write(AppendMFZIDMessage(nil, []byte("demo[b]")))
	if got := readReply(t, ma); !strings.HasPrefix(got, "error: ") || !strings.Contains(got, errLeftToMFMT2.Error()) {
		t.Fatalf("reply %q", got)
	}
	// The connection stays: MFM packets still go both ways.
	mb := dialPacket(t, filepath.Join(cb.RunDir, control.MFMSocket))
	expectTEP(t, mb, packet.EventMFMCompatible, packet.SW)
	back, _ := packet.AppendMFM(nil, packet.SW, false, false, []byte{0x20, 'z'})
	mb.Write(back)
	expectMFM(t, ma, packet.NE, "\x20z")
}

// countingDevice is a pipe end that counts the identities given to it.
type countingDevice struct {
	*dev.PipeDevice
	sets atomic.Int32
}

func (c *countingDevice) SetMFZID(id []byte) error {
	c.sets.Add(1)
	return c.PipeDevice.SetMFZID(id)
}

// An identity the device already holds is not written again: on a tile
// that write would make the MFM devices stale and restart every link's
// handshake, each time mfmt2 restarts.
func TestMFZIDSameAgainNotRewritten(t *testing.T) {
	a, b := dev.Pipe(packet.SE, 64)
	defer b.Close()
	cfg := testConfig(t)
	cfg.MFZID = "demo[a]"
	cd := &countingDevice{PipeDevice: a}
	da := startDaemon(t, cfg, cd)
	path := filepath.Join(cfg.RunDir, control.MFMSocket)
	for i, step := range []struct {
		id   string
		sets int32
	}{{"demo[a]", 1}, {"demo[b]", 2}, {"demo[b]", 2}} {
		c := dialPacket(t, path)
		c.Write(AppendMFZIDMessage(nil, []byte(step.id)))
		if got := readReply(t, c); got != "ok MFZID "+step.id {
			t.Fatalf("step %d: reply %q", i, got)
		}
		if n := cd.sets.Load(); n != step.sets {
			t.Fatalf("step %d (%s): the device was given %d identities, want %d", i, step.id, n, step.sets)
		}
		c.Close()
		eventually(t, "client gone", func() bool { return !da.Status().MFMClient })
	}
	if st := da.Status(); st.MFZID != "demo[b]" || st.MFZIDFrom != "mfm.sock" {
		t.Fatalf("identity %q from %q", st.MFZID, st.MFZIDFrom)
	}
}

// Each change of identity restarts every link's handshake, so a client
// that sends changes back to back has them made one a mfzidChangeGap
// apart, none lost, its later messages waiting in its socket.
func TestMFZIDChangesSpacedOut(t *testing.T) {
	a, b := dev.Pipe(packet.SE, 64)
	defer b.Close()
	cfg := testConfig(t)
	cd := &countingDevice{PipeDevice: a}
	startDaemon(t, cfg, cd)
	c := dialPacket(t, filepath.Join(cfg.RunDir, control.MFMSocket))
	before := cd.sets.Load()
	ids := []string{"x1", "x2", "x3"}
	for _, id := range ids {
		if _, err := c.Write(AppendMFZIDMessage(nil, []byte(id))); err != nil {
			t.Fatal(err)
		}
	}
	var first time.Time
	for i, id := range ids {
		if got := readReply(t, c); got != "ok MFZID "+id {
			t.Fatalf("reply %d: %q", i, got)
		}
		if i == 0 {
			first = time.Now()
		}
	}
	// The third change came at least two gaps after the first; the first
	// reply left at most one gap before the second change began.
	if gap := time.Since(first); gap < mfzidChangeGap {
		t.Errorf("three changes answered within %v of the first: want them %v apart", gap, mfzidChangeGap)
	}
	if n := cd.sets.Load() - before; n != int32(len(ids)) {
		t.Errorf("the device was given %d identities, want %d", n, len(ids))
	}
}

// failingDevice refuses every identity (as the kernel device does when
// it wrote mfzid but an MFM device is held) and records when each came.
type failingDevice struct {
	*dev.PipeDevice
	mu sync.Mutex
	at []time.Time
}

func (f *failingDevice) SetMFZID([]byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.at = append(f.at, time.Now())
	return errors.New("mfm device busy (EBUSY)")
}

// An identity the device refused is tried again only a gap later: on a
// tile each try writes mfzid and restarts every link's handshake.
func TestMFZIDRefusedRetriedNoFasterThanTheGap(t *testing.T) {
	a, b := dev.Pipe(packet.SE, 64)
	defer b.Close()
	cfg := testConfig(t)
	fd := &failingDevice{PipeDevice: a}
	startDaemon(t, cfg, fd)
	c := dialPacket(t, filepath.Join(cfg.RunDir, control.MFMSocket))
	for range 3 {
		c.Write(AppendMFZIDMessage(nil, []byte("demo[x]")))
		if got := readReply(t, c); !strings.HasPrefix(got, "error: ") {
			t.Fatalf("reply %q, want an error", got)
		}
	}
	fd.mu.Lock()
	defer fd.mu.Unlock()
	for i := 2; i < len(fd.at); i++ { // at[0] is the config's identity at start
		if gap := fd.at[i].Sub(fd.at[i-1]); gap < mfzidChangeGap {
			t.Errorf("try %d came %v after the one before: want at least %v", i, gap, mfzidChangeGap)
		}
	}
}

// warnCounter counts the Warn lines about refused identities.
type warnCounter struct{ n *atomic.Int64 }

func (c warnCounter) Enabled(_ context.Context, l slog.Level) bool { return true }
func (c warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && strings.Contains(r.Message, "physics identity refused") {
		c.n.Add(1)
	}
	return nil
}
func (c warnCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c warnCounter) WithGroup(string) slog.Handler      { return c }

// A client repeating a malformed identity message is refused each time
// and counted, but logged at Warn once: it cannot fill the log.
func TestMFZIDRefusalsLoggedOnce(t *testing.T) {
	a, b := dev.Pipe(packet.SE, 64)
	defer b.Close()
	cfg := testConfig(t)
	var warns atomic.Int64
	dm, err := New(cfg, Options{Device: a, Logger: slog.New(warnCounter{&warns})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dm.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-dm.Ready()
	c := dialPacket(t, filepath.Join(cfg.RunDir, control.MFMSocket))
	const sent = 200
	for range sent {
		c.Write([]byte("MFZIDx"))
		if got := readReply(t, c); !strings.HasPrefix(got, "error: ") {
			t.Fatalf("reply %q, want an error", got)
		}
	}
	if n := warns.Load(); n != 1 {
		t.Errorf("%d Warn lines for %d malformed messages, want 1", n, sent)
	}
}
