package dev

import (
	"slices"
	"testing"
	"time"
)

func pf(epoch uint32, seq uint16) Frame {
	return Frame{Type: FramePacket, Epoch: epoch, Seq: seq, Packet: []byte{0x82, 2}}
}

func kf(epoch uint32) Frame { return Frame{Type: FrameKeepalive, Epoch: epoch} }

// TestRxWindowAdmit covers every branch of rxWindow.admit: the window
// before, one frame, the verdict and the window after.
func TestRxWindowAdmit(t *testing.T) {
	// live: epoch 7 after epoch 5, newest delivered s0.
	const s0 = 5000
	live := rxWindow{epoch: 7, prevEpoch: 5, seq: s0, synced: true}
	with := func(w rxWindow, f func(*rxWindow)) rxWindow { f(&w); return w }
	for _, tc := range []struct {
		name  string
		w     rxWindow
		f     Frame
		fresh bool
		want  rxVerdict
		after rxWindow
	}{
		// Nothing heard yet (a zero window; the link is fresh then).
		{"first keepalive", rxWindow{}, kf(7), true, rxKeepalive, rxWindow{epoch: 7}},
		{"first packet", rxWindow{}, pf(7, 40000), true, rxResync, rxWindow{epoch: 7, seq: 40000, synced: true}},

		// The current epoch, in order.
		{"next", live, pf(7, s0+1), false, rxNext, with(live, func(w *rxWindow) { w.seq = s0 + 1 })},
		{"skips ahead", live, pf(7, s0+100), false, rxNext, with(live, func(w *rxWindow) { w.seq = s0 + 100 })},
		{"furthest ahead", live, pf(7, s0+32767), false, rxNext, with(live, func(w *rxWindow) { w.seq = s0 + 32767 })},
		{"wraps", with(live, func(w *rxWindow) { w.seq = 65535 }), pf(7, 0), false, rxNext, with(live, func(w *rxWindow) { w.seq = 0 })},
		{"keepalive", live, kf(7), false, rxKeepalive, live},

		// The current epoch, late or far behind.
		{"network duplicate", live, pf(7, s0), false, rxLate, live},
		{"one behind", live, pf(7, s0-1), false, rxLate, live},
		{"late at the window's edge", live, pf(7, s0-reorderWindow+1), false, rxLate, live},
		{"late across the wrap", with(live, func(w *rxWindow) { w.seq = 3 }), pf(7, 65534), false, rxLate, with(live, func(w *rxWindow) { w.seq = 3 })},
		{"jump: reorderWindow behind", live, pf(7, s0-reorderWindow), false, rxJump, with(live, func(w *rxWindow) { w.seq = s0 - reorderWindow })},
		{"jump: half the space away", live, pf(7, s0+32768), false, rxJump, with(live, func(w *rxWindow) { w.seq = s0 + 32768 })},

		// The current epoch after the link was down or cut.
		{"fresh packet behind", live, pf(7, 5), true, rxResync, with(live, func(w *rxWindow) { w.seq = 5 })},
		{"fresh duplicate", live, pf(7, s0), true, rxResync, live},
		{"fresh keepalive", live, kf(7), true, rxKeepalive, with(live, func(w *rxWindow) { w.synced = false })},
		{"unsynced packet", with(live, func(w *rxWindow) { w.synced = false }), pf(7, 3), false, rxResync, with(live, func(w *rxWindow) { w.seq = 3 })},

		// A new epoch: the neighbour restarted; the one before is forgotten.
		{"new epoch packet", with(live, func(w *rxWindow) { w.prevKeepalives = 2 }), pf(9, 0), false, rxResync, rxWindow{epoch: 9, prevEpoch: 7, seq: 0, synced: true}},
		{"new epoch keepalive", with(live, func(w *rxWindow) { w.prevKeepalives = 3 }), kf(9), false, rxKeepalive, rxWindow{epoch: 9, prevEpoch: 7, seq: s0}},
		{"new epoch, fresh", live, pf(9, s0), true, rxResync, rxWindow{epoch: 9, prevEpoch: 7, seq: s0, synced: true}},

		// The previous epoch: stragglers, until its keepalives win it back.
		{"straggler packet", live, pf(5, 60000), false, rxStraggler, live},
		{"straggler packet after keepalives", with(live, func(w *rxWindow) { w.prevKeepalives = prevEpochKeepalives }), pf(5, 1), false, rxStraggler,
			with(live, func(w *rxWindow) { w.prevKeepalives = prevEpochKeepalives })},
		{"first straggler keepalive", live, kf(5), false, rxStragglerKeepalive, with(live, func(w *rxWindow) { w.prevKeepalives = 1 })},
		{"last straggler keepalive", with(live, func(w *rxWindow) { w.prevKeepalives = prevEpochKeepalives - 1 }), kf(5), false, rxStragglerKeepalive,
			with(live, func(w *rxWindow) { w.prevKeepalives = prevEpochKeepalives })},
		{"keepalives win the epoch back", with(live, func(w *rxWindow) { w.prevKeepalives = prevEpochKeepalives }), kf(5), false, rxKeepalive,
			rxWindow{epoch: 5, prevEpoch: 7, seq: s0}},
		{"previous epoch's packet on a fresh link", live, pf(5, 1), true, rxResync, rxWindow{epoch: 5, prevEpoch: 7, seq: 1, synced: true}},
		{"previous epoch's keepalive on a fresh link", live, kf(5), true, rxKeepalive, rxWindow{epoch: 5, prevEpoch: 7, seq: s0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.w
			if got := w.admit(tc.f, tc.fresh); got != tc.want {
				t.Errorf("admit(%+v, fresh %v) = %v, want %v", tc.f, tc.fresh, got, tc.want)
			}
			if w != tc.after {
				t.Errorf("window after: %+v, want %+v", w, tc.after)
			}
		})
	}
}

// TestRxWindowScenarios plays the scenarios of the UDP device's tests
// (udp_test.go) on the window alone: frame by frame, the verdicts.
func TestRxWindowScenarios(t *testing.T) {
	type in struct {
		f     Frame
		fresh bool
	}
	for _, tc := range []struct {
		name string
		in   []in
		want []rxVerdict
	}{
		{"reorder and duplicates", []in{
			{pf(1, 1), true}, {pf(1, 2), false}, {pf(1, 3), false}, {pf(1, 2), false}, {pf(1, 5), false},
			{pf(1, 4), false}, {pf(1, 6), false}, {pf(1, 6), false}, {pf(1, 3), false}, {pf(1, 7), false},
		}, []rxVerdict{rxResync, rxNext, rxNext, rxLate, rxNext, rxLate, rxNext, rxLate, rxLate, rxNext}},
		{"neighbour restarts", []in{
			{pf(1, 100), true}, {pf(1, 101), false},
			{kf(2), false},                       // the new run's keepalive first
			{pf(1, 102), false},                  // a straggler of the first run
			{pf(2, 0), false}, {pf(2, 1), false}, // behind 101, but a new run
			{pf(1, 103), false}, {kf(1), false},
			{pf(3, 40000), false}, {pf(2, 3), false}, {pf(3, 40001), false},
		}, []rxVerdict{rxResync, rxNext, rxKeepalive, rxStraggler, rxResync, rxNext, rxStraggler, rxStragglerKeepalive,
			rxResync, rxStraggler, rxNext}},
		{"stray epoch", []in{
			{pf(5, 10), true}, {kf(5), false}, {pf(0xBAD, 60000), false}, {pf(5, 11), false},
			{kf(5), false}, {kf(5), false}, {kf(5), false}, {kf(5), false}, {pf(5, 12), false},
		}, []rxVerdict{rxResync, rxKeepalive, rxResync, rxStraggler,
			rxStragglerKeepalive, rxStragglerKeepalive, rxStragglerKeepalive, rxKeepalive, rxResync}},
		{"down in between", []in{
			{pf(4, 1000), true}, {pf(4, 10), true}, {pf(4, 9), false}, {pf(4, 11), false},
		}, []rxVerdict{rxResync, rxResync, rxLate, rxNext}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w rxWindow
			var got []rxVerdict
			for _, x := range tc.in {
				got = append(got, w.admit(x.f, x.fresh))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("verdicts %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRxVerdict pins what the receiver does with each verdict.
func TestRxVerdict(t *testing.T) {
	for _, tc := range []struct {
		v              rxVerdict
		heard, deliver bool
	}{
		{rxStraggler, false, false},
		{rxStragglerKeepalive, false, false},
		{rxKeepalive, true, false},
		{rxResync, true, true},
		{rxNext, true, true},
		{rxLate, true, false},
		{rxJump, true, true},
	} {
		if tc.v.heard() != tc.heard || tc.v.deliver() != tc.deliver {
			t.Errorf("%v: heard %v deliver %v, want %v %v", tc.v, tc.v.heard(), tc.v.deliver(), tc.heard, tc.deliver)
		}
		if tc.v.String() == rxVerdict(0).String() {
			t.Errorf("verdict %d has no name", tc.v)
		}
	}
}

func TestHeardWithin(t *testing.T) {
	const d = time.Second
	for _, tc := range []struct {
		last, now int64
		want      bool
	}{
		{0, 1, false},                      // never heard
		{0, int64(d) - 1, false},           // never heard, however early
		{5, 5, true},                       // just now
		{5, 5 + int64(d) - 1, true},        // just within
		{5, 5 + int64(d), false},           // silent for exactly d: down
		{5, 5 + 10*int64(d), false},        // long silent
		{1, int64(100 * time.Hour), false}, // far into a long run
	} {
		if got := heardWithin(tc.last, tc.now, d); got != tc.want {
			t.Errorf("heardWithin(%d, %d, %v) = %v", tc.last, tc.now, d, got)
		}
	}
}

// FuzzRxWindow feeds the window a stream of frames, three bytes each
// (flags: bit 0 keepalive, bit 1 fresh, bits 2-3 which of three epochs;
// then a big-endian sequence number), and checks after every frame that
// the verdict agrees with the window before and after it: only the
// previous epoch goes unheard, a delivered frame becomes the newest, a
// late one is within the window and changes nothing, the count of
// straggler keepalives stays bounded, and delivery keeps order within a
// synced epoch.
func FuzzRxWindow(f *testing.F) {
	const ka, fresh, ep2, ep3 = 1, 2, 1 << 2, 2 << 2
	ops := func(xs ...int) []byte { // pairs of flags, sequence number
		var b []byte
		for i := 0; i+1 < len(xs); i += 2 {
			b = append(b, byte(xs[i]), byte(xs[i+1]>>8), byte(xs[i+1]))
		}
		return b
	}
	f.Add(ops())
	f.Add(ops(fresh, 1, 0, 2, 0, 3, 0, 2, 0, 5, 0, 4, 0, 6))                                                         // in order, a duplicate, a late one
	f.Add(ops(fresh, 65533, 0, 65534, 0, 65535, 0, 0, 0, 65535, 0, 1))                                               // across the wrap
	f.Add(ops(fresh, 30000, 0, 30001, 0, 30001-reorderWindow+1, 0, 30001-reorderWindow, fresh, 5, 0, 6))             // late, jump, fresh
	f.Add(ops(fresh, 100, 0, 101, ep2|ka, 0, 0, 102, ep2, 0, ep2, 1, 0, 103, ka, 0, ep3, 40000, ep2, 3, ep3, 40001)) // restarts
	f.Add(ops(fresh, 10, ka, 0, ep2, 60000, 0, 11, ka, 0, ka, 0, ka, 0, ka, 0, 0, 12))                               // a stray epoch, won back
	f.Fuzz(func(t *testing.T, ops []byte) {
		var w rxWindow
		for len(ops) >= 3 {
			flags, seq := ops[0], uint16(ops[1])<<8|uint16(ops[2])
			ops = ops[3:]
			fr := pf(uint32(1+(flags>>2)%3), seq)
			if flags&1 != 0 {
				fr = kf(fr.Epoch)
			}
			fresh := flags&2 != 0
			before := w
			v := w.admit(fr, fresh)
			bad := func(why string) {
				t.Fatalf("%s: %+v admit(%+v, fresh %v) = %v, window %+v", why, before, fr, fresh, v, w)
			}
			if v < rxStraggler || v > rxJump {
				bad("no such verdict")
			}
			if w.prevKeepalives < 0 || w.prevKeepalives > prevEpochKeepalives {
				bad("straggler keepalives unbounded")
			}
			if (v == rxKeepalive || v == rxStragglerKeepalive) != (fr.Type == FrameKeepalive) {
				bad("keepalive verdict for a packet or the reverse")
			}
			if !v.heard() {
				if fr.Epoch == before.epoch || fr.Epoch != before.prevEpoch || fresh {
					bad("unheard frame that is no straggler")
				}
				after := w
				after.prevKeepalives = before.prevKeepalives
				if after != before {
					bad("straggler moved the window")
				}
				continue
			}
			if w.epoch != fr.Epoch {
				bad("heard frame's epoch is not the live one")
			}
			if fr.Epoch != before.epoch && (w.prevEpoch != before.epoch || w.prevKeepalives != 0) {
				bad("new epoch did not push the old one back")
			}
			switch v {
			case rxLate:
				if w != before || fresh || !before.synced || seqNewer(fr.Seq, before.seq) || uint16(before.seq-fr.Seq) >= reorderWindow {
					bad("late frame that is not late")
				}
			case rxNext:
				if fresh || fr.Epoch != before.epoch || !before.synced || !seqNewer(fr.Seq, before.seq) {
					bad("next frame out of order")
				}
			case rxJump:
				if fresh || fr.Epoch != before.epoch || !before.synced || uint16(before.seq-fr.Seq) < reorderWindow {
					bad("jump within the window")
				}
			case rxResync:
				if before.synced && !fresh && fr.Epoch == before.epoch {
					bad("resync of a synced window")
				}
			case rxKeepalive:
				if w.seq != before.seq {
					bad("keepalive moved the sequence")
				}
			}
			if v.deliver() && (w.seq != fr.Seq || !w.synced) {
				bad("delivered frame is not the newest")
			}
		}
	})
}
