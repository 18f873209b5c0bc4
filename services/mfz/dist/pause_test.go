package dist

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/syncbuf"
	"github.com/t2tiles/itcd/itc/packet"
)

// serveAll answers every REQUEST sent to d for sf (handle hd) in full,
// and returns how many REQUESTs there were.
func (x *harness) serveAll(d packet.Dir, hd uint8, sf *signedFile) int {
	reqs := requests(x.h.take(x.t, d))
	for _, r := range reqs {
		for c := int(r.chunk); c < int(r.chunk)+int(r.count); c++ {
			x.in(d, appendData(nil, hd, int(r.block), c, sf.chunk(int(r.block), c)))
		}
	}
	return len(reqs)
}

// runFor moves the fake clock on by d in 10 ms steps, as the loop's ticker
// would (the slow timers every 250 ms), calling each after every step; it
// stops early when each returns false.
func (x *harness) runFor(d time.Duration, each func() bool) time.Duration {
	const step = 10 * time.Millisecond
	var t time.Duration
	for t < d {
		x.advance(step)
		t += step
		if t%(250*time.Millisecond) == 0 {
			x.l.slowTick()
			x.turn()
		}
		if !each() {
			break
		}
	}
	return t
}

// waitDone runs the final checks the loop started until f is complete.
func (x *harness) waitDone(f *file) {
	x.t.Helper()
	deadline := time.After(20 * time.Second)
	for f.receiving() {
		select {
		case c := <-x.l.done:
			x.l.completed(c)
		case <-deadline:
			x.t.Fatalf("%s: no final check came back", f.name)
		}
	}
}

// A full disk used to make an endless re-fetch storm: the block that could
// not be written was asked for again at once, from the same neighbour,
// failed again, and so on (1385 errors a second, most of two tiles' CPU,
// 12 MB of log in 45 s). Now the transfer pauses and backs off (1 s
// doubling to 30 s), asks for nothing while paused, shows "paused" and the
// reason in the status, keeps every verified block, blames no neighbour,
// logs once per backoff step, and resumes by itself when space returns.
func TestFullDiskPausesTransfer(t *testing.T) {
	x := newHarness(t, packet.ET)
	var logged syncbuf.Buffer
	x.l.log = slog.New(slog.NewTextHandler(&logged, nil))
	sf := x.pack("a.mfz", 1, 60000, 1024) // 59 blocks of 1 KiB
	f := x.receiving(sf, packet.ET, 9)
	x.turn()
	x.serveAll(packet.ET, 9, sf) // the first window's blocks go to disk
	held := f.partial.Have()
	nheld := f.nhave
	if nheld == 0 || nheld == f.blocks {
		t.Fatalf("held %d of %d blocks before the disk filled", nheld, f.blocks)
	}

	x.full.Store(true)
	x.turn()
	x.serveAll(packet.ET, 9, sf) // the next window: its first block fails
	if !f.pause.paused() || x.l.counters.DiskErrors != 1 {
		t.Fatalf("a failed write: paused %v, %d disk errors", f.pause.paused(), x.l.counters.DiskErrors)
	}
	reqs := 0
	x.runFor(2*time.Minute, func() bool {
		reqs += x.serveAll(packet.ET, 9, sf)
		return reqs <= 1000
	})
	t.Logf("2 minutes of a full disk: %d REQUESTs, %d failed writes, %d log lines", reqs,
		x.l.counters.DiskErrors, logged.Count("level=ERROR"))
	// 1+2+4+8+16+30+30+30 s: at most one probe block per backoff step,
	// asked in one REQUEST and its last chunk once more (fill's tail ask).
	if reqs > 24 {
		t.Fatalf("%d REQUESTs in 2 minutes of a full disk, want a handful (one per backoff step)", reqs)
	}
	if x.l.counters.DiskErrors > 12 {
		t.Errorf("%d failed writes in 2 minutes", x.l.counters.DiskErrors)
	}
	if lines := logged.Count("level=ERROR"); lines == 0 || lines > 12 {
		t.Errorf("%d error lines in the log in 2 minutes, want one per backoff step:\n%s", lines, logged.String())
	}
	n := x.l.nbrs[packet.ET]
	if n.conduct.strikes != 0 || n.avoided(x.l.now) || x.l.counters.Avoided != 0 {
		t.Errorf("the neighbour that served the blocks is blamed for our disk: %d strikes, avoided %v", n.conduct.strikes, n.avoided(x.l.now))
	}
	if f.nhave != nheld {
		t.Errorf("held %d blocks, had %d", f.nhave, nheld)
	}
	now := f.partial.Have()
	for i := range held {
		if held[i]&^now[i] != 0 {
			t.Fatalf("verified blocks were dropped: had %08b, hold %08b at byte %d", held[i], now[i], i)
		}
	}
	x.l.snapshot()
	st := x.s.Snapshot()
	if len(st.Transfers) != 1 {
		t.Fatalf("transfers %+v", st.Transfers)
	}
	tr := st.Transfers[0]
	partialDir := filepath.Join(x.dir, "state", "mfz", "partial")
	if tr.State != "paused" || !strings.Contains(tr.Reason, "no space left on "+partialDir) ||
		!strings.Contains(tr.Reason, "free space") || tr.RetryS <= 0 || tr.RetryS > 30 {
		t.Fatalf("status of the paused transfer: state %q, reason %q, retry in %.1f s", tr.State, tr.Reason, tr.RetryS)
	}

	x.full.Store(false)
	took := x.runFor(time.Minute, func() bool {
		x.serveAll(packet.ET, 9, sf)
		return f.nhave < f.blocks
	})
	if f.nhave < f.blocks {
		t.Fatalf("space came back and the transfer did not resume: %d of %d blocks after a minute", f.nhave, f.blocks)
	}
	if took > 31*time.Second {
		t.Errorf("resumed %v after space came back, more than one backoff step", took)
	}
	x.waitDone(f)
	if e, ok := x.s.store.Lookup("a.mfz"); !ok || fidOf(e.Hash) != sf.id {
		t.Fatal("the file is not installed")
	}
	if x.l.counters.Completed != 1 || logged.Count("mfz transfer resumed") != 1 {
		t.Errorf("completed %d, resumed logged %d times", x.l.counters.Completed, logged.Count("mfz transfer resumed"))
	}
}

// A full disk when a manifest arrives (the store cannot create the
// partial) used to refuse the file for 10 minutes, as if the neighbour had
// offered a bad one. It is nobody's fault: no refusal, no strike, new
// transfers wait (shown in the status) and start by themselves once space
// returns.
func TestFullDiskAtBeginRetries(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 3000, 1024)
	x.full.Store(true)
	x.announceFile(packet.ET, 4, sf)
	x.turn()
	asks := 0
	x.runFor(45*time.Second, func() bool { // paused 1+2+4+8+16 s, then 30 s
		ms := getManifests(x.h.take(t, packet.ET))
		asks += len(ms)
		if len(ms) > 0 {
			x.serveManifest(packet.ET, 4, sf, 0, -1)
		}
		return asks <= 1000
	})
	if asks > 10 {
		t.Fatalf("%d GET_MANIFESTs in 45 s of a full disk", asks)
	}
	if x.l.isRefused(sf.id) || x.l.counters.Refused != 0 {
		t.Fatal("a manifest the store could not write for lack of space is refused")
	}
	if n := x.l.nbrs[packet.ET]; n.conduct.strikes != 0 || n.avoided(x.l.now) {
		t.Fatalf("the neighbour is blamed for our disk: %d strikes", n.conduct.strikes)
	}
	x.l.snapshot()
	if p := x.s.Snapshot().Paused; !strings.Contains(p, "no space left on") {
		t.Fatalf("status does not say why new transfers wait: %q", p)
	}
	x.full.Store(false)
	x.runFor(time.Minute, func() bool {
		if len(getManifests(x.h.take(t, packet.ET))) > 0 {
			x.serveManifest(packet.ET, 4, sf, 0, -1)
		}
		f := x.l.files.byID[sf.id]
		return f == nil || !f.receiving()
	})
	if f := x.l.files.byID[sf.id]; f == nil || !f.receiving() {
		t.Fatal("no transfer a minute after space came back")
	}
	x.l.snapshot()
	if p := x.s.Snapshot().Paused; p != "" {
		t.Fatalf("still paused: %q", p)
	}
}

// The status said new transfers were paused only while the pause's wait
// ran: from its end to the next Begin that worked (the manifest fetched
// again, the disk still full) it said nothing, although no new transfer
// could start. It now says so for as long as the pause is in force, due
// (paused_retry_s 0) or not.
func TestBeginPauseShownUntilBeginWorks(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 3000, 1024)
	x.full.Store(true)
	x.announceFile(packet.ET, 4, sf)
	x.turn()
	if ms := getManifests(x.h.take(t, packet.ET)); len(ms) != 1 {
		t.Fatalf("%d GET_MANIFESTs for the announcement", len(ms))
	}
	x.serveManifest(packet.ET, 4, sf, 0, -1)
	x.l.snapshot()
	if st := x.s.Snapshot(); !strings.Contains(st.Paused, "no space left on") || st.PausedRetryS <= 0 || st.PausedRetryS > 1 {
		t.Fatalf("a full disk at Begin: paused %q, retry in %.2f s", st.Paused, st.PausedRetryS)
	}
	// The wait ends; the manifest is asked again and has not come yet.
	x.runFor(1500*time.Millisecond, func() bool { return true })
	if len(getManifests(x.h.take(t, packet.ET))) == 0 {
		t.Fatal("the manifest is not asked again when the pause ends")
	}
	x.l.snapshot()
	if st := x.s.Snapshot(); !strings.Contains(st.Paused, "no space left on") || st.PausedRetryS != 0 {
		t.Fatalf("the pause is due and nothing has worked yet: paused %q, retry in %.2f s", st.Paused, st.PausedRetryS)
	}
	x.full.Store(false)
	x.serveManifest(packet.ET, 4, sf, 0, -1)
	if f := x.l.files.byID[sf.id]; f == nil || !f.receiving() {
		t.Fatal("no transfer once the disk had space")
	}
	x.l.snapshot()
	if st := x.s.Snapshot(); st.Paused != "" || st.PausedRetryS != 0 {
		t.Fatalf("still paused after a Begin worked: %q", st.Paused)
	}
}
