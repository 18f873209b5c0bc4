package hostile_test

import (
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/tubes"
	"github.com/t2tiles/itcd/sim/hostile"
	"github.com/t2tiles/itcd/tube/tubetest"
)

// TestAttackTubeOpens: OPENs to ports nobody accepts on, beyond what a
// link may hold, and repeated; ACCEPTs for tubes never opened. A keeps a
// few OPENs per link, holds at most max_tubes tubes for the attacker and
// refuses the next with a reason, answers a repeated OPEN with the same
// ACCEPT, and ignores ACCEPTs for nothing.
func TestAttackTubeOpens(t *testing.T) {
	a, ta := tubeArena(t, func(c *tubes.Config) { c.MaxTubes = 3 })
	x := a.nb[0]
	heap0, g0 := heap()
	wait := honestTube(t, a, 64<<10)
	before := tubeOf(a.status(tileA)).Counters
	for i := range 300 {
		x.SendTube(&tubes.WireMessage{Type: tubes.MsgOpen, ID: uint16(1000 + i), SrcPort: 1, DstPort: uint16(2000 + i), Kind: tubes.KindStream, Window: 1 << 30})
		time.Sleep(time.Millisecond) // a busy link's pace: the tile's inbox is not what is tested
	}
	err := a.g.WaitFor(10*time.Second, "A refused the OPENs it cannot keep", func() bool {
		return tubeOf(a.status(tileA)).Counters.Refused-before.Refused >= 300-16
	})
	if err != nil {
		t.Errorf("%v: counters %+v", err, tubeOf(a.status(tileA)).Counters)
	}
	// ACCEPTs for tubes never opened: no answer, nothing held.
	mark, _ := ta.log.Counts()
	for i := range 100 {
		x.SendTube(&tubes.WireMessage{Type: tubes.MsgAccept, ID: uint16(i * 613), From: uint16(i), Window: 1 << 16})
		time.Sleep(time.Millisecond)
	}
	// Three tubes, the most max_tubes allows; OPEN repeats get the same
	// ACCEPT and no new tube.
	var progs []*tubetest.Raw
	for i := range 3 {
		p, _ := acceptFromAttacker(t, a, ta, uint16(20+i), uint16(1+i), "")
		progs = append(progs, p)
	}
	m0, _ := ta.log.Counts()
	for range 50 {
		x.SendTube(&tubes.WireMessage{Type: tubes.MsgOpen, ID: 1, SrcPort: 1000, DstPort: 20, Kind: tubes.KindStream, Window: 1 << 16})
		time.Sleep(time.Millisecond)
	}
	// The fourth is refused with a reason; its program keeps waiting.
	fourth := tubetest.DialRaw(t, a.g.Tile(tileA).RunDir, "accept 23 from=WT")
	waitAccept(t, a, 23)
	x.SendTube(&tubes.WireMessage{Type: tubes.MsgOpen, ID: 4, SrcPort: 1000, DstPort: 23, Kind: tubes.KindStream, Window: 1 << 16})
	rs, err := ta.log.Wait(a.ctx, m0, 10*time.Second, func(m *tubes.WireMessage) bool { return m.Type == tubes.MsgReset && m.ID == 4 })
	if err != nil {
		t.Fatalf("no RESET for the fourth tube: %v", err)
	}
	if !strings.Contains(rs.Reason, "at most 3") {
		t.Errorf("RESET of the fourth tube: code %d %q", rs.Code, rs.Reason)
	}
	ms, _ := ta.log.Since(mark)
	accepts := 0
	for _, m := range ms {
		switch {
		case m.Type == tubes.MsgAccept && m.ID == 1:
			accepts++
		case m.Type == tubes.MsgAccept && m.ID > 3, m.Type == tubes.MsgReset && m.ID != 4:
			t.Errorf("A answered with %+v", m)
		}
	}
	if accepts < 2 || accepts > 51 {
		t.Errorf("%d ACCEPTs of tube 1 for 51 OPENs", accepts)
	}
	st := tubeOf(a.status(tileA))
	onWT := 0
	for _, ts := range st.Tubes {
		if ts.Dir == packet.WT {
			onWT++
		}
	}
	if onWT != 3 {
		t.Errorf("%d tubes on WT, want 3: %+v", onWT, st.Tubes)
	}
	if e := wait(); e != " " {
		t.Fatalf("the honest tube: %q", e)
	}
	fourth.Conn.Close()
	a.alive()
	a.checkBounded(heap0, g0)
	_ = progs
}

// TestAttackTubeReceiver: on a tube the attacker opened, DATA far beyond
// the window, FINs at odd places and two different ones, a flood of
// window probes, ACKs of bytes never sent and ranges inverted or huge,
// a RESET flood for other ids. The program reads exactly the bytes that
// came in order and the end once; each probe costs A at most one ACK;
// the tube survives all but the RESET for it.
func TestAttackTubeReceiver(t *testing.T) {
	a, ta := tubeArena(t, nil)
	x := a.nb[0]
	pr, id := acceptFromAttacker(t, a, ta, 20, 1, "")
	before := tubeOf(a.status(tileA)).Counters
	send := func(m *tubes.WireMessage) {
		x.SendTube(m)
		time.Sleep(time.Millisecond) // a busy link's pace: the tile's inbox is not what is tested
	}
	data := func(seq uint32, fin bool, b string) {
		m := &tubes.WireMessage{Type: tubes.MsgData, ID: id, Seq: seq, Data: []byte(b)}
		if fin {
			m.Flags = tubes.FlagFin
		}
		send(m)
	}
	// Far beyond the window, and just past it; then the window's worth.
	for i := range 50 {
		data(1<<24+uint32(i)*200, i%2 == 0, strings.Repeat("z", 200))
	}
	data(1<<16+100, false, "late")
	data(0, false, "hello ")
	data(6, true, "world")  // FIN after 11 bytes
	data(3, true, "lo wor") // a different FIN: before the first
	data(6, true, "world and more")
	data(20, false, "after the end")
	mark, _ := ta.log.Counts()
	for range 500 {
		data(11, false, "") // window probes
	}
	// ACKs of bytes A never sent, moving read and limit about.
	for i := range 50 {
		send(&tubes.WireMessage{Type: tubes.MsgAck, ID: id, Ack: uint32(1000 + i), Read: 5, Limit: 1 << 31})
		send(&tubes.WireMessage{Type: tubes.MsgAck, ID: id, Ack: 0, Read: 0, Limit: 0,
			Sacks: [][2]uint32{{100, 50}, {0, 1<<32 - 1}, {1 << 31, 1}, {5, 5}}})
	}
	for i := range 200 {
		send(&tubes.WireMessage{Type: tubes.MsgReset, ID: id + 1 + uint16(i), Code: 2, Reason: "flood"})
	}
	var got []byte
	for {
		f, err := pr.Recv(10 * time.Second)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		if f[0] == 'd' {
			got = append(got, f[1:]...)
		}
		if f[0] == 'e' {
			break
		}
	}
	if string(got) != "hello world" {
		t.Fatalf("the program read %q, want %q", got, "hello world")
	}
	err := a.g.WaitFor(10*time.Second, "A counted the bad ACKs", func() bool {
		return tubeOf(a.status(tileA)).Counters.BadAcks-before.BadAcks >= 50
	})
	if err != nil {
		t.Errorf("%v: counters %+v", err, tubeOf(a.status(tileA)).Counters)
	}
	time.Sleep(300 * time.Millisecond) // the last ACKs leave
	ms, _ := ta.log.Since(mark)
	acks := 0
	for _, m := range ms {
		if m.Type == tubes.MsgAck && m.ID == 1 {
			acks++
		}
	}
	if acks > 500+120 {
		t.Errorf("%d ACKs for 500 probes and 100 bad ACKs", acks)
	}
	ts, ok := tubeOn(tubeOf(a.status(tileA)), packet.WT, 20)
	if !ok || ts.State != "got-fin" {
		t.Fatalf("the tube after the attack: %+v", ts)
	}
	after := tubeOf(a.status(tileA)).Counters
	if after.DupData-before.DupData < 3 || after.BeyondWindow-before.BeyondWindow < 50*200 {
		t.Errorf("A counted %d repeated segments and %d bytes beyond the window", after.DupData-before.DupData, after.BeyondWindow-before.BeyondWindow)
	}
	// The RESET for it ends it, with the reason.
	x.SendTube(&tubes.WireMessage{Type: tubes.MsgReset, ID: id, Code: 2, Reason: "bye"})
	if f := pr.Expect("x", 10*time.Second); !strings.Contains(string(f), "bye") {
		t.Errorf("final frame %q", f)
	}
	a.alive()
}

// TestAttackTubeMessageTooLong: a message tube whose next length says
// 64 KiB + 1 ends with a protocol error, both ends told.
func TestAttackTubeMessageTooLong(t *testing.T) {
	a, ta := tubeArena(t, nil)
	x := a.nb[0]
	pr, id := acceptFromAttacker(t, a, ta, 24, 5, "message")
	mark, _ := ta.log.Counts()
	ok := binary.BigEndian.AppendUint32(nil, 3)
	ok = append(ok, "abc"...)
	x.SendTube(&tubes.WireMessage{Type: tubes.MsgData, ID: id, Seq: 0, Data: binary.BigEndian.AppendUint32(ok, tubes.MaxMessage+1)})
	if f := pr.Expect("d", 10*time.Second); string(f) != "dabc" {
		t.Fatalf("first message %q", f)
	}
	if f := pr.Expect("x", 10*time.Second); !strings.Contains(string(f), "over 65536") {
		t.Errorf("final frame %q", f)
	}
	if _, err := ta.log.Wait(a.ctx, mark, 10*time.Second, func(m *tubes.WireMessage) bool { return m.Type == tubes.MsgReset && m.ID == 5 }); err != nil {
		t.Errorf("no RESET: %v", err)
	}
}

// TestAttackTubeAcksWithoutReading: the attacker accepts a message tube
// A's program opens and acknowledges every segment at once, but never
// says its program read any, offering an ever larger window. A stops
// taking messages from its program after a window's worth: what A keeps
// per message for the far program's reading cannot grow without bound.
func TestAttackTubeAcksWithoutReading(t *testing.T) {
	a, ta := tubeArena(t, nil)
	var aID atomic.Uint32 // A's id for the tube
	answer := func(n *hostile.Neighbour, m *tubes.WireMessage) {
		switch m.Type {
		case tubes.MsgOpen:
			aID.Store(uint32(m.ID))
			n.SendTube(&tubes.WireMessage{Type: tubes.MsgAccept, ID: m.ID, From: 77, Window: 1 << 31})
		case tubes.MsgData:
			if m.ID != 77 {
				return
			}
			end := m.Seq + uint32(len(m.Data))
			if m.Flags&tubes.FlagFin != 0 {
				end++
			}
			n.SendTube(&tubes.WireMessage{Type: tubes.MsgAck, ID: uint16(aID.Load()), Ack: end, Read: 0, Limit: end + 1<<20})
		}
	}
	ta.answer.Store(&answer)
	pr := tubetest.DialRaw(t, a.g.Tile(tileA).RunDir, "open WT 30 message")
	pr.Expect("ok ", 10*time.Second)
	const most = 60000
	sent := 0
	for ; sent < most; sent++ {
		pr.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := pr.Conn.Write([]byte{'d', 1}); err != nil {
			break
		}
	}
	ts, ok := tubeOn(tubeOf(a.status(tileA)), packet.WT, 0)
	for _, s := range tubeOf(a.status(tileA)).Tubes {
		if s.Dir == packet.WT {
			ts, ok = s, true
		}
	}
	if !ok {
		t.Fatal("no tube on WT")
	}
	cfg := tubes.DefaultConfig()
	// A window of the far side's (its own size) and a send buffer, in
	// messages of 5 bytes on the wire.
	bound := (2*cfg.Window+tubes.MaxMessage+4)/5 + 64
	t.Logf("the program handed over %d messages; tube %+v; counters %+v", sent, ts, tubeOf(a.status(tileA)).Counters)
	if sent >= most || ts.MsgsOut > uint64(bound) {
		t.Errorf("A took %d messages nobody read (bound %d)", ts.MsgsOut, bound)
	}
}

// TestAttackTubeAckInsideASegment: an ACK that acknowledges part of a
// segment, then silence. A sends the rest again (once crashed the tile:
// the retransmission sliced the buffer from before its start).
func TestAttackTubeAckInsideASegment(t *testing.T) {
	a, ta := tubeArena(t, nil)
	var aID atomic.Uint32
	var acked atomic.Bool
	answer := func(n *hostile.Neighbour, m *tubes.WireMessage) {
		switch {
		case m.Type == tubes.MsgOpen:
			aID.Store(uint32(m.ID))
			n.SendTube(&tubes.WireMessage{Type: tubes.MsgAccept, ID: m.ID, From: 78, Window: 1 << 16})
		case m.Type == tubes.MsgData && m.ID == 78 && len(m.Data) > 0 && acked.CompareAndSwap(false, true):
			n.SendTube(&tubes.WireMessage{Type: tubes.MsgAck, ID: uint16(aID.Load()), Ack: m.Seq + 5, Read: 0, Limit: 1 << 16})
		}
	}
	ta.answer.Store(&answer)
	pr := tubetest.DialRaw(t, a.g.Tile(tileA).RunDir, "open WT 31")
	pr.Expect("ok ", 10*time.Second)
	mark, _ := ta.log.Counts()
	pr.Send(append([]byte{'d'}, make([]byte, 100)...))
	m, err := ta.log.Wait(a.ctx, mark, 10*time.Second, func(m *tubes.WireMessage) bool {
		return m.Type == tubes.MsgData && m.ID == 78 && m.Seq == 5
	})
	if err != nil {
		t.Fatalf("no resend of the rest: %v", err)
	}
	if len(m.Data) != 95 {
		t.Errorf("resent %d bytes from 5, want 95", len(m.Data))
	}
	a.alive()
}

// TestAttackTubeOpensAndNeverReads: the attacker opens tubes to programs
// that write as fast as they can, and never acknowledges a byte. Each
// program blocks after a window's worth, and A holds no more than that
// per tube, for as many tubes as max_tubes allows.
func TestAttackTubeOpensAndNeverReads(t *testing.T) {
	a, ta := tubeArena(t, func(c *tubes.Config) { c.MaxTubes = 4 })
	cfg := tubes.DefaultConfig()
	var blocked atomic.Int32
	for i := range 4 {
		pr, _ := acceptFromAttacker(t, a, ta, uint16(50+i), uint16(300+i), "")
		go func() {
			for n := 0; n < 1<<20; n += 4000 {
				pr.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
				if _, err := pr.Conn.Write(append([]byte{'d'}, make([]byte, 4000)...)); err != nil {
					break
				}
			}
			blocked.Add(1)
		}()
	}
	if err := a.g.WaitFor(20*time.Second, "the writers block", func() bool { return blocked.Load() == 4 }); err != nil {
		t.Fatal(err)
	}
	st := tubeOf(a.status(tileA))
	n := 0
	for _, ts := range st.Tubes {
		if ts.Dir != packet.WT {
			continue
		}
		n++
		if ts.Queued > cfg.Window+4000 || ts.State != "open" {
			t.Errorf("tube %d: %s, holds %d bytes (window %d)", ts.ID, ts.State, ts.Queued, cfg.Window)
		}
	}
	if n != 4 {
		t.Errorf("%d tubes on WT", n)
	}
	a.alive()
}

// TestAttackTubeResetUnknownNamesItsOwnID: a RESET saying "unknown tube"
// answers a packet of a tube the sender no longer holds, so it names the
// tube by the id that packet carried: the sender's own id for it, which
// A knows as its peer's. It ends that tube, and no other tube whose id
// on A happens to be the number (as it did, while it ended nothing the
// far side had forgotten).
func TestAttackTubeResetUnknownNamesItsOwnID(t *testing.T) {
	a, ta := tubeArena(t, nil)
	var aIDs sync.Map // A's id for each tube, by the attacker's
	answer := func(n *hostile.Neighbour, m *tubes.WireMessage) {
		if m.Type == tubes.MsgOpen {
			from := 500 + m.DstPort
			aIDs.Store(from, m.ID)
			n.SendTube(&tubes.WireMessage{Type: tubes.MsgAccept, ID: m.ID, From: from, Window: 1 << 16})
		}
	}
	ta.answer.Store(&answer)
	one := tubetest.DialRaw(t, a.g.Tile(tileA).RunDir, "open WT 1")
	one.Expect("ok ", 10*time.Second)
	two := tubetest.DialRaw(t, a.g.Tile(tileA).RunDir, "open WT 2")
	two.Expect("ok ", 10*time.Second)
	idTwo, _ := aIDs.Load(uint16(502))
	// "Unknown" naming A's id for tube two: not an id of the attacker's.
	a.nb[0].SendTube(&tubes.WireMessage{Type: tubes.MsgReset, ID: idTwo.(uint16), Code: tubes.ResetUnknown})
	// "Unknown" naming the attacker's id for tube one: ends tube one.
	a.nb[0].SendTube(&tubes.WireMessage{Type: tubes.MsgReset, ID: 501, Code: tubes.ResetUnknown})
	if f := one.Expect("x", 10*time.Second); !strings.Contains(string(f), "unknown") {
		t.Errorf("tube one: %q", f)
	}
	time.Sleep(200 * time.Millisecond)
	for _, ts := range tubeOf(a.status(tileA)).Tubes {
		if ts.RemotePort == 2 && ts.State != "open" {
			t.Errorf("tube two: %s (%s)", ts.State, ts.Reason)
		}
	}
}

// TestTubeFinalAckAfterLinger: both ends closed cleanly, A's linger ran
// out and A forgot the tube; then the far side's FIN comes again (every
// ACK of it was lost). A answers with the tube's final ACK, so the far
// side too learns its end was read and closes cleanly, instead of an
// "unknown tube" RESET that fails a tube whose every byte arrived.
func TestTubeFinalAckAfterLinger(t *testing.T) {
	a, ta := tubeArena(t, func(c *tubes.Config) { c.Linger = conf.Duration(300 * time.Millisecond) })
	x := a.nb[0]
	var aID atomic.Uint32
	answer := func(n *hostile.Neighbour, m *tubes.WireMessage) {
		if m.Type == tubes.MsgOpen {
			aID.Store(uint32(m.ID))
			n.SendTube(&tubes.WireMessage{Type: tubes.MsgAccept, ID: m.ID, From: 600, Window: 1 << 16})
		}
	}
	ta.answer.Store(&answer)
	mark, _ := ta.log.Counts()
	pr := tubetest.DialRaw(t, a.g.Tile(tileA).RunDir, "open WT 60")
	pr.Expect("ok ", 10*time.Second)
	pr.Send([]byte{'f'})
	isFin := func(m *tubes.WireMessage) bool {
		return m.Type == tubes.MsgData && m.ID == 600 && m.Flags&tubes.FlagFin != 0
	}
	if _, err := ta.log.Wait(a.ctx, mark, 10*time.Second, isFin); err != nil {
		t.Fatalf("no FIN from A: %v", err)
	}
	id := uint16(aID.Load())
	x.SendTube(&tubes.WireMessage{Type: tubes.MsgAck, ID: id, Ack: 1, Read: 1, Limit: 1 + 1<<16})
	x.SendTube(&tubes.WireMessage{Type: tubes.MsgData, ID: id, Seq: 0, Flags: tubes.FlagFin})
	pr.Expect("c", 10*time.Second)
	err := a.g.WaitFor(10*time.Second, "A forgets the tube", func() bool {
		for _, ts := range tubeOf(a.status(tileA)).Tubes {
			if ts.Dir == packet.WT {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	mark, _ = ta.log.Counts()
	x.SendTube(&tubes.WireMessage{Type: tubes.MsgData, ID: id, Seq: 0, Flags: tubes.FlagFin})
	m, err := ta.log.Wait(a.ctx, mark, 10*time.Second, func(m *tubes.WireMessage) bool {
		return m.Type == tubes.MsgAck || m.Type == tubes.MsgReset
	})
	if err != nil {
		t.Fatalf("no answer to the FIN again: %v", err)
	}
	if m.Type != tubes.MsgAck || m.ID != 600 || m.Ack != 1 || m.Read != 1 {
		t.Fatalf("answer to the FIN after linger: %+v, want the final ACK (id 600, ack 1, read 1)", m)
	}
}
