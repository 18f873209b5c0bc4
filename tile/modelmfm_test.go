//go:build !(arm || 386 || mips || mipsle)

package tile_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/itc/itcmodel"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/tile"
)

// MFM traffic between mfm.sock clients of two real tiles on the model:
// it flows only while the tiles' physics identities (mfzid) match, and
// recovers when someone else writes mfzid mid-run.

// mfmClients connects an mfm.sock client to each tile and waits until
// both have heard that their link is MFM-compatible.
func mfmClients(t *testing.T, a, b *modelTile) (ca, cb *sockClient) {
	t.Helper()
	waitLive(t, a, b)
	ca, cb = dialSock(t, a, control.MFMSocket), dialSock(t, b, control.MFMSocket)
	ca.until(t, "a's mfm_compatible for ET", func(m []byte) bool { return isTEP(m, packet.EventMFMCompatible, packet.ET) }, nil)
	cb.until(t, "b's mfm_compatible for WT", func(m []byte) bool { return isTEP(m, packet.EventMFMCompatible, packet.WT) }, nil)
	return ca, cb
}

// giveMFZID sends the identity message on mfm.sock and waits for "ok".
func giveMFZID(t *testing.T, c *sockClient, id string) {
	t.Helper()
	c.send(t, daemon.AppendMFZIDMessage(nil, []byte(id)))
	want := "ok " + daemon.MFZIDTag + id
	if m := c.until(t, "reply "+want, func(m []byte) bool { return !isStandard(m) }, nil); string(m) != want {
		t.Fatalf("MFZID %s: reply %q, want %q", id, m, want)
	}
}

// isStandard: a packet or TEP, not one of the daemon's text replies.
func isStandard(m []byte) bool { return len(m) > 0 && m[0]&0x80 != 0 }

// TestModelMFMOnlyWhileCompatible: an MFM packet from a's client reaches
// b's while both tiles hold the same mfzid. When b's client gives
// another identity both clients hear MFM-incompatible (event 4), and a's
// packets are not sent and are counted; when it gives the same one again
// both hear MFM-compatible (event 3) and packets flow again.
func TestModelMFMOnlyWhileCompatible(t *testing.T) {
	_, a, b := modelPair(t, "phys")
	ca, cb := mfmClients(t, a, b)
	if !a.mt.Compatible(packet.ET) {
		t.Fatalf("the model says a's ET is not compatible")
	}
	ca.send(t, mfmPacket(t, packet.ET, "first"))
	if got := cb.until(t, "b gets the first MFM packet", isMFM(packet.WT), nil); payload(got) != "first" {
		t.Fatalf("b got %q first", payload(got))
	}

	giveMFZID(t, cb, "other")
	cb.until(t, "b's mfm_incompatible for WT", func(m []byte) bool { return isTEP(m, packet.EventMFMIncompatible, packet.WT) }, nil)
	ca.until(t, "a's mfm_incompatible for ET", func(m []byte) bool { return isTEP(m, packet.EventMFMIncompatible, packet.ET) }, nil)
	if a.mt.Compatible(packet.ET) || a.link(packet.ET).MFMCompatible {
		t.Fatalf("a's ET still compatible after b changed its identity")
	}
	const stopped = 5
	before := a.link(packet.ET).MFMIncompatible
	for i := range stopped {
		ca.send(t, mfmPacket(t, packet.ET, fmt.Sprint("stopped ", i)))
	}
	waitFor(t, "a counts the MFM packets not sent", func() bool {
		return a.link(packet.ET).MFMIncompatible == before+stopped
	})

	giveMFZID(t, cb, "phys")
	cb.until(t, "b's mfm_compatible for WT again", func(m []byte) bool { return isTEP(m, packet.EventMFMCompatible, packet.WT) }, nil)
	ca.until(t, "a's mfm_compatible for ET again", func(m []byte) bool { return isTEP(m, packet.EventMFMCompatible, packet.ET) }, nil)
	ca.send(t, mfmPacket(t, packet.ET, "again"))
	// None of the stopped packets arrives: the next b gets is this one.
	if got := cb.until(t, "b gets the MFM packet sent after event 3", isMFM(packet.WT), nil); payload(got) != "again" {
		t.Fatalf("b got %q after compatibility returned, want \"again\"", payload(got))
	}
	if st := b.Status(); st.MFZID != "phys" || st.MFZIDFrom != "mfm.sock" || st.MFZIDError != "" {
		t.Errorf("b's identity: %q from %q (error %q), want phys from mfm.sock", st.MFZID, st.MFZIDFrom, st.MFZIDError)
	}
}

// TestModelMFMDefaultIdentity: with the default mfzid ("", the module's
// value from boot) the tiles hold their identity without error and MFM
// packets flow between clients that never give one.
func TestModelMFMDefaultIdentity(t *testing.T) {
	_, a, b := modelPair(t, tile.DefaultConfig().MFZID)
	ca, cb := mfmClients(t, a, b)
	for _, mt := range []*modelTile{a, b} {
		if st := mt.Status(); st.MFZID != "" || st.MFZIDFrom != "config" || st.MFZIDError != "" {
			t.Errorf("%s's identity: %q from %q, error %q; want \"\" from config, held", mt.mt.Name(), st.MFZID, st.MFZIDFrom, st.MFZIDError)
		}
	}
	ca.send(t, mfmPacket(t, packet.ET, "default"))
	if got := cb.until(t, "b gets the MFM packet", isMFM(packet.WT), nil); payload(got) != "default" {
		t.Fatalf("b got %q", payload(got))
	}
	cb.send(t, mfmPacket(t, packet.WT, "back"))
	if got := ca.until(t, "a gets the MFM packet", isMFM(packet.ET), nil); payload(got) != "back" {
		t.Fatalf("a got %q", payload(got))
	}
	if e := a.link(packet.ET).Errors; e != 0 {
		t.Errorf("a counts %d write errors on ET", e)
	}
}

// TestModelForeignMFZIDWrite: another thread writes b's mfzid mid-run,
// which makes b's MFM devices stale and restarts its handshakes. The
// tile loses no service packet of a sequence sent across it meanwhile,
// and MFM between the clients recovers: b's kernel backend reopens its
// devices and writes its own identity back.
func TestModelForeignMFZIDWrite(t *testing.T) {
	_, a, b := modelPair(t, "phys")
	ca, cb := mfmClients(t, a, b)
	sa, sb := dialSock(t, a, control.ServiceSocket), dialSock(t, b, control.ServiceSocket)
	const svc = 40
	for _, c := range []*sockClient{sa, sb} {
		c.send(t, []byte(fmt.Sprint("bind ", svc)))
		c.until(t, "bound", func(m []byte) bool { return string(m) == fmt.Sprint("ok ", svc) }, nil)
	}
	sa.until(t, "a's service client hears ET connect", func(m []byte) bool { return isTEP(m, packet.EventConnect, packet.ET) }, nil)

	// A sequence of service packets, with the foreign write halfway. The
	// sender reports to the test through channels, never through t.
	const n = 300
	wroteAt := make(chan time.Time, 1)
	sendErr := make(chan error, 1)
	go func() {
		sendErr <- func() error {
			for i := range n {
				if i == n/2 {
					at, err := foreignMFZIDWrite(b.mt, "intruder")
					if err != nil {
						return err
					}
					wroteAt <- at
				}
				p, err := packet.AppendService(nil, packet.ET, svc, []byte(fmt.Sprint(i)))
				if err != nil {
					return err
				}
				sa.c.SetWriteDeadline(time.Now().Add(deadline))
				if _, err := sa.c.Write(p); err != nil {
					return fmt.Errorf("service packet %d: %w", i, err)
				}
			}
			return nil
		}()
	}()
	// b's service client reads the sequence meanwhile.
	recvErr := make(chan error, 1)
	go func() {
		recvErr <- func() error {
			for i := 0; i < n; {
				m, err := sb.read(deadline)
				if err != nil {
					return fmt.Errorf("service packet %d: %w", i, err)
				}
				if !isStandard(m) || m[0]&0xC0 != 0x80 {
					continue // a TEP
				}
				p, err := packet.Decode(m)
				if err != nil || p.Dir != packet.WT || string(p.Payload) != fmt.Sprint(i) {
					return fmt.Errorf("service packet %d: got % x (%v)", i, m, err)
				}
				i++
			}
			return nil
		}()
	}()
	var wrote time.Time
	select {
	case wrote = <-wroteAt:
	case err := <-sendErr:
		t.Fatalf("the foreign write did not happen: %v", err)
	}

	// MFM recovers: probe from the moment of the write until a packet
	// gets through; those sent meanwhile are lost (in flight while the
	// devices were stale or the handshake restarted).
	var got string
	probes := 0
	for got == "" {
		if time.Since(wrote) > deadline {
			t.Fatalf("no MFM packet through within %v of the foreign mfzid write", deadline)
		}
		ca.send(t, mfmPacket(t, packet.ET, fmt.Sprint("probe ", probes)))
		probes++
		if m := cb.next(t, 10*time.Millisecond); m != nil {
			if s, ok := mfmPayload(m, packet.WT); ok {
				got = s
			}
		}
	}
	recovered := time.Since(wrote)
	for _, c := range []chan error{sendErr, recvErr} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("MFM recovered %v after the foreign mfzid write: %q of %d probes the first through; all %d service packets arrived in order",
		recovered.Round(time.Millisecond), got, probes, n)
	if tid, _, id := b.mt.MFZID(); id != "phys" || tid == 0 {
		t.Errorf("b's mfzid is %q (thread %d) after recovery, want phys written back", id, tid)
	}
	if !strings.Contains(b.log.String(), "written by another thread") {
		t.Errorf("b did not log the foreign write")
	}
	// The neighbours stayed live throughout: no disconnect, no reconnect.
	for _, l := range []control.LinkStatus{a.link(packet.ET), b.link(packet.WT)} {
		if l.State != control.Live || !l.MFMCompatible || l.Connects != 1 {
			t.Errorf("%v after recovery: %s, mfm_compatible %v, %d connects (want live, true, 1)", l.Dir, l.State, l.MFMCompatible, l.Connects)
		}
	}
}

// foreignMFZIDWrite writes id to tile's mfzid from a new OS thread,
// which ends with it, and returns when it did.
func foreignMFZIDWrite(mt *itcmodel.Tile, id string) (time.Time, error) {
	type result struct {
		at  time.Time
		err error
	}
	done := make(chan result)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends here
		err := writeMFZID(mt, id)
		if err != nil {
			err = fmt.Errorf("foreign mfzid write: %w", err)
		}
		done <- result{time.Now(), err}
	}()
	r := <-done
	return r.at, r.err
}

// writeMFZID writes id to tile's mfzid in one write from the calling
// thread, as echo does.
func writeMFZID(mt *itcmodel.Tile, id string) error {
	fd, err := unix.Open(mt.SysPath("mfzid"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte(id))
	return err
}

// isMFM matches an MFM packet from link d.
func isMFM(d packet.Dir) func([]byte) bool {
	return func(m []byte) bool { _, ok := mfmPayload(m, d); return ok }
}

// payload is the payload of an MFM packet after its type byte.
func payload(m []byte) string {
	p, err := packet.Decode(m)
	if err != nil || len(p.Payload) < 1 {
		return fmt.Sprintf("% x", m)
	}
	return string(p.Payload[1:])
}
