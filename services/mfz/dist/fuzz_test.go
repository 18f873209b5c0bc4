package dist

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/mfz"
)

// FuzzParseBody is FuzzParseMessage past the CRC: the input is sealed, so
// the fuzzer explores the parser instead of failing the checksum.
func FuzzParseBody(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s[:len(s)-crcLen])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body)+crcLen > maxMsg {
			return
		}
		m, err := parseMessage(seal(body))
		if err != nil {
			return
		}
		if m.typ != msgSync && m.export().Handle > maxHandle {
			t.Fatalf("handle %d", m.export().Handle)
		}
		switch m.typ {
		case msgManifest:
			if k := m.manifest; int(k.offset)+len(k.data) > int(k.total) || len(k.data) == 0 {
				t.Fatalf("manifest segment %d+%d of %d", k.offset, len(k.data), k.total)
			}
		case msgBitfield:
			if k := m.bitfield; k.first%8 != 0 || int(k.first)+8*len(k.bits) > 4096+7 {
				t.Fatalf("bitfield at %d of %d bytes", k.first, len(k.bits))
			}
		case msgRequest:
			if k := m.request; k.count == 0 || int(k.chunk)+int(k.count) > maxChunks || k.block >= 4096 {
				t.Fatalf("request %d %d+%d", k.block, k.chunk, k.count)
			}
		case msgRequests:
			n := 0
			m.requests.entries(func(_ uint16, r requestMsg) {
				n++
				manifest := r.block == manifestAsk && int(r.chunk) < maxManifestSegs && r.count > 0 && int(r.count) <= maxManifestSegs
				// count 0: a mark after chunk r.chunk.
				chunks := r.block < 4096 && int(r.chunk)+max(int(r.count), 1) <= maxChunks
				if r.handle > maxHandle || !manifest && !chunks {
					t.Fatalf("requests entry %+v", r)
				}
			})
			if n == 0 || n > maxRequestEntries {
				t.Fatalf("requests of %d entries", n)
			}
		case msgData:
			if k := m.data; k.block >= 4096 || int(k.chunk) >= maxChunks || len(k.data) > ChunkLen {
				t.Fatalf("data %d %d", k.block, k.chunk)
			}
		}
		if m.typ == msgHave {
			m.have.blocks(func(b int) {
				if b < 0 || b >= 4096 {
					t.Fatalf("have block %d", b)
				}
			})
		}
	})
}

// FuzzLoop drives one loop with crafted messages from two neighbours and
// time steps, and checks after every step that nothing a neighbour sends
// breaks the bookkeeping or the memory bounds. The loop holds one complete
// file (to serve) and receives another (to fetch). Input: a sequence of
// ops; op byte o: o&0x80 advances the clock by (o&0x7f)*10 ms; o&0x40
// reconnects the neighbour on ET (o even) or SE (o odd), as the same tile
// (o&2 clear) or as another one (o&2 set: tile o>>2&7); otherwise the next
// byte k is a length and the k bytes after it a message body, sealed and
// delivered from ET (o even) or SE (o odd).
//
// Every input starts from a loop of its own and waits for the whole-file
// checks it starts, so it runs the same way every time and a failing input
// fails again alone. A loop carried over from input to input made the
// coverage of each depend on all before it: the fuzzer took nearly every
// input for new and spent its time minimizing them (3 inputs a minute).
func FuzzLoop(f *testing.F) {
	maker := newHarness(f) // packs the files
	held := maker.pack("held.mfz", 5, 5000, 1024)
	recv := maker.pack("recv.mfz", 9, 4000, 1024)
	bogus := maker.packKey(untrusted, "recv.mfz", 10, 1500, 1024)
	setup := func(t testing.TB) (*harness, uint8) {
		x := newHarness(t, packet.ET, packet.SE)
		path := filepath.Join(x.dir, "held.mfz")
		if err := os.WriteFile(path, held.file, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := x.s.store.Install(path); err != nil {
			t.Fatal(err)
		}
		x.l.resync()
		x.receiving(recv, packet.ET, 3)
		x.h.take(t, packet.ET)
		x.h.take(t, packet.SE)
		return x, x.l.files.byID[held.id].handle
	}
	_, hh := setup(f)

	op := func(b []byte, dir byte, body []byte) []byte {
		b = append(b, dir, byte(len(body)))
		return append(b, body[:len(body)-crcLen]...)
	}
	var seed []byte
	seed = op(seed, 0, appendAnnounce(nil, 3, flagComplete, 9, recv.m.BlockCount(), recv.m.BlockCount(), recv.id, "recv.mfz"))
	seed = op(seed, 1, appendAnnounce(nil, 4, 0, 9, recv.m.BlockCount(), 1, recv.id, "recv.mfz"))
	seed = op(seed, 1, appendHave(nil, 4, 1, []int{2, 3}))
	seed = op(seed, 1, appendBitfield(nil, 4, 0, []byte{0xff}))
	for c := 0; c < chunkCount(1024); c++ {
		seed = op(seed, 0, appendData(nil, 3, 0, c, recv.chunk(0, c)))
	}
	seed = append(seed, 0x80|30)
	seed = op(seed, 0, appendNotHave(nil, 3, 1))
	seed = op(seed, 1, appendRequest(nil, hh, 0, 0, 5))
	seed = op(seed, 1, appendRequest(nil, hh, 4, 0, 1))
	numbered := requestsMsg{seq: 2, list: appendRequestEntry(appendRequestEntry(nil, requestMsg{handle: hh, block: 1, count: 2}), requestMsg{handle: hh, block: 0, chunk: 1, count: 1})}
	seed = op(seed, 1, numbered.append(nil))
	short := requestsMsg{seq: 3, list: appendRequestEntry(nil, requestMsg{handle: hh, block: 2, count: 5, short: true})}
	seed = op(seed, 1, short.append(nil))
	seed = op(seed, 0, appendChunk(nil, 3, 1, 0, recv.chunk(1, 0), true))
	seed = op(seed, 0, appendAnnounce(nil, 3, flagComplete|flagsServed, 9, recv.m.BlockCount(), recv.m.BlockCount(), recv.id, "recv.mfz"))
	seed = op(seed, 0, appendGetManifest(nil, hh, 0, 0))
	seed = op(seed, 1, appendSync(nil, 0))
	seed = op(seed, 0, appendNotHave(nil, 3, blockGone))
	f.Add(seed)
	// A neighbour that refuses, flaps its link and SYNCs in a burst.
	seed = nil
	seed = op(seed, 1, appendAnnounce(nil, 7, flagComplete, 10, bogus.m.BlockCount(), bogus.m.BlockCount(), bogus.id, "recv.mfz"))
	for off := 0; off < len(bogus.signed); off += manifestSeg {
		seed = op(seed, 1, appendManifest(nil, 7, off, len(bogus.signed), bogus.signed[off:min(off+manifestSeg, len(bogus.signed))]))
	}
	seed = append(seed, 0x40|1, 0x40|1|2|4)
	seed = op(seed, 1, appendSync(nil, 0))
	seed = op(seed, 1, appendSync(nil, 0))
	seed = append(seed, 0x80|60, 0x40|1)
	f.Add(seed)

	f.Fuzz(func(t *testing.T, in []byte) {
		x, _ := setup(t)
		for len(in) > 0 {
			o := in[0]
			in = in[1:]
			if o&0x80 != 0 {
				x.advance(time.Duration(o&0x7f) * 10 * time.Millisecond)
				x.l.slowTick()
			} else if o&0x40 != 0 {
				d := packet.ET
				if o&1 != 0 {
					d = packet.SE
				}
				tile := p2p.TileID{byte(d)}
				if o&2 != 0 {
					tile = p2p.TileID{0xF0 | o>>2&7}
				}
				x.l.disconnect(d)
				x.l.connect(d, tile)
			} else {
				if len(in) == 0 {
					break
				}
				k := min(int(in[0]), len(in)-1, maxMsg-crcLen)
				body := append([]byte(nil), in[1:1+k]...)
				in = in[1+k:]
				d := packet.ET
				if o&1 != 0 {
					d = packet.SE
				}
				x.in(d, seal(body))
			}
			x.turn()
			x.settle(t)
			x.check(t)
		}
		x.h.take(t, packet.ET)
		x.h.take(t, packet.SE)
	})
}

// settle waits for every whole-file check the loop started and applies
// its result, as the loop does when it comes: each input then runs the
// same way every time (taken only if already done, a check's result
// depended on how fast the machine was).
func (x *harness) settle(t testing.TB) {
	if !x.verifying() {
		return
	}
	deadline := time.After(20 * time.Second)
	for x.verifying() {
		select {
		case c := <-x.l.done:
			x.l.completed(c)
		case <-deadline:
			t.Fatal("a whole-file check did not come back in 20 s")
		}
	}
}

// verifying reports whether a whole-file check runs.
func (x *harness) verifying() bool {
	for _, f := range x.l.files.byID {
		if f.phase == phaseVerifying {
			return true
		}
	}
	return false
}

// check verifies the loop's bookkeeping and memory bounds.
func (x *harness) check(t testing.TB) {
	t.Helper()
	l := x.l
	if len(l.refused) > l.t.refusedMax || len(l.remembered) > l.t.conductMax || len(l.starts) > l.t.startsMax {
		t.Fatalf("%d refused, %d tiles remembered, %d start pauses", len(l.refused), len(l.remembered), len(l.starts))
	}
	// Manifest fetches: a few per live, not avoided neighbour, each with a
	// deadline no later than the largest manifest allows.
	var perNbr [8]int
	for id, mf := range l.fetches {
		n := l.nbrs[mf.from]
		if n == nil || n.avoided(l.now) || mf.id != id {
			t.Fatalf("manifest fetch %v from %v: gone or avoided", id, mf.from)
		}
		perNbr[mf.from]++
		if perNbr[mf.from] > l.t.manifests {
			t.Fatalf("%d manifest fetches from %v", perNbr[mf.from], mf.from)
		}
		if lim := mf.started.Add(l.t.mfFloor + mfz.MaxSignedManifestLen*time.Second/time.Duration(l.t.mfRate)); mf.deadline.IsZero() || mf.deadline.After(lim) {
			t.Fatalf("manifest fetch deadline %v after its start, limit %v", mf.deadline.Sub(mf.started), lim.Sub(mf.started))
		}
	}
	for _, n := range l.nbrs {
		if n == nil {
			continue
		}
		sum := 0
		for _, a := range n.win.asms {
			if a.dead {
				t.Fatalf("dead block %d on %v", a.block, n.dir)
			}
			for _, k := range a.oc {
				sum += int(k)
			}
		}
		if n.tokens.n < 0 || n.tokens.n > l.t.mfBurst {
			t.Fatalf("%v: %d manifest fetch tokens, at most %d", n.dir, n.tokens.n, l.t.mfBurst)
		}
		if n.syncPending && l.now.Sub(n.syncAt) >= l.t.syncGap {
			t.Fatalf("%v: a SYNC left unanswered %v after the last answer", n.dir, l.now.Sub(n.syncAt))
		}
		if n.avoided(l.now) && (n.win.inflight > 0 || len(n.win.asms) > 0) {
			t.Fatalf("%v: avoided with %d chunks and %d blocks asked", n.dir, n.win.inflight, len(n.win.asms))
		}
		if n.win.inflight != sum || sum != liveOut(n) {
			t.Fatalf("%v: inflight %d, asked %d, outstanding entries %d", n.dir, n.win.inflight, sum, liveOut(n))
		}
		if len(n.byFid) > maxHandle+1 || len(n.win.asms) > 64 || len(n.ctrl)-n.ctrlHead > l.t.ctrlQueue ||
			len(n.jobs) > l.t.serveQueue || len(n.win.out)-n.win.outHead > 4*l.t.window+64 {
			t.Fatalf("%v: %d files, %d blocks, %d ctrl, %d jobs, %d out", n.dir, len(n.byFid), len(n.win.asms),
				len(n.ctrl)-n.ctrlHead, len(n.jobs), len(n.win.out)-n.win.outHead)
		}
		jc := 0
		for _, j := range n.jobs {
			if !j.manifest {
				jc += j.end - j.next
			}
		}
		if jc != n.jobChunks || jc > l.t.serveChunks {
			t.Fatalf("%v: %d chunks queued, counted %d", n.dir, jc, n.jobChunks)
		}
		for id, rf := range n.byFid {
			if n.rh[rf.handle] != rf || rf.id != id {
				t.Fatalf("%v: handle table and file table disagree on %v", n.dir, id)
			}
		}
	}
	for _, f := range l.files.byID {
		if !f.receiving() {
			continue
		}
		k := 0
		for b := 0; b < f.blocks; b++ {
			if f.have.Has(b) {
				k++
			}
			if d := f.fetching[b]; d != 0 && (l.nbrs[d] == nil || l.nbrs[d].win.find(f, b) == nil) {
				t.Fatalf("block %d of %s owned by %v, which is not fetching it", b, f.name, d)
			}
		}
		if k != f.nhave || f.low > f.blocks || f.low < f.blocks && f.have.Has(f.low) {
			t.Fatalf("%s: %d blocks held, counted %d, low %d", f.name, k, f.nhave, f.low)
		}
	}
}
