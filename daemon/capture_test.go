package daemon

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

func TestCaptureFilter(t *testing.T) {
	for _, tc := range []struct {
		name string
		args control.CaptureArgs
		pkt  []byte
		want bool
	}{
		{"all takes service", control.CaptureArgs{}, []byte{0x82, 0x08, 1}, true},
		{"all takes local", control.CaptureArgs{}, []byte{0xC1, 7}, true},
		{"all takes empty", control.CaptureArgs{}, nil, true},
		{"ET takes ET", control.CaptureArgs{Links: []packet.Dir{packet.ET}}, []byte{0xA2, 1}, true},
		{"ET drops WT", control.CaptureArgs{Links: []packet.Dir{packet.ET}}, []byte{0xA6, 1}, false},
		{"ET drops local", control.CaptureArgs{Links: []packet.Dir{packet.ET}}, []byte{0xC1, 1}, false},
		{"ET takes a TEP of ET", control.CaptureArgs{Links: []packet.Dir{packet.ET}}, []byte{0xC4, 1, 2}, true},
		{"ET drops a TEP of WT", control.CaptureArgs{Links: []packet.Dir{packet.ET}}, []byte{0xC4, 1, 6}, false},
		{"mfm takes mfm", control.CaptureArgs{Kinds: []string{"mfm"}}, []byte{0xA2, 1}, true},
		{"mfm drops service", control.CaptureArgs{Kinds: []string{"mfm"}}, []byte{0x82, 8}, false},
		{"service takes suspect service", control.CaptureArgs{Kinds: []string{"service"}}, []byte{0x9A, 8}, true},
		{"local takes non-standard", control.CaptureArgs{Kinds: []string{"local"}}, []byte{'x'}, true},
		{"local takes invalid", control.CaptureArgs{Kinds: []string{"local"}}, []byte{0xE0}, true},
		{"mfm,local on ET drops service", control.CaptureArgs{Links: []packet.Dir{packet.ET}, Kinds: []string{"mfm", "local"}}, []byte{0x82, 8}, false},
	} {
		s, err := newCaptureSub(tc.args, 1)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := s.wants(captureLink(tc.pkt), captureKind(tc.pkt)); got != tc.want {
			t.Errorf("%s: wants(% x) = %v, want %v", tc.name, tc.pkt, got, tc.want)
		}
	}
	for _, a := range []control.CaptureArgs{
		{Links: []packet.Dir{packet.NT}},
		{Links: []packet.Dir{9}},
		{Kinds: []string{"tcp"}},
	} {
		if _, err := newCaptureSub(a, 1); err == nil {
			t.Errorf("newCaptureSub(%+v) accepted", a)
		}
	}
}

// TestCaptureQueueFullCountsLosses: a capture nobody drains keeps the
// first packets and counts the rest lost; the tap never blocks.
func TestCaptureQueueFullCountsLosses(t *testing.T) {
	var tap captureTap
	s, _ := newCaptureSub(control.CaptureArgs{}, 4)
	if err := tap.add(s, control.MaxCaptures); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		tap.tap(control.TravelIn, []byte{0x82, 8, byte(i)})
	}
	if n, lost := len(s.c), s.lost.Load(); n != 4 || lost != 6 {
		t.Fatalf("queued %d, lost %d; want 4 and 6", n, lost)
	}
	r := <-s.c
	if r.travel != control.TravelIn || r.link != uint8(packet.ET) || !bytes.Equal(r.data(), []byte{0x82, 8, 0}) || r.unixNano == 0 {
		t.Fatalf("first record %+v", r)
	}
	tap.remove(s)
	tap.tap(control.TravelIn, []byte{0x82, 8, 99})
	if len(s.c) != 3 || s.lost.Load() != 6 {
		t.Fatal("a removed capture still gets packets")
	}
}

func TestCaptureLimit(t *testing.T) {
	var tap captureTap
	subs := make([]*captureSub, control.MaxCaptures)
	for i := range subs {
		subs[i], _ = newCaptureSub(control.CaptureArgs{}, 1)
		if err := tap.add(subs[i], control.MaxCaptures); err != nil {
			t.Fatal(err)
		}
	}
	extra, _ := newCaptureSub(control.CaptureArgs{}, 1)
	if err := tap.add(extra, control.MaxCaptures); !errors.Is(err, ErrTooManyCaptures) {
		t.Fatalf("capture %d: %v, want ErrTooManyCaptures", control.MaxCaptures+1, err)
	}
	for _, s := range subs {
		tap.remove(s)
	}
	if tap.subs.Load() != nil {
		t.Fatal("no capture runs, yet the tap is not empty")
	}
}

// TestCaptureTapAllocatesNothing: the tap costs no allocation, with no
// capture (one atomic load) or with one (a copy into a fixed record).
func TestCaptureTapAllocatesNothing(t *testing.T) {
	var tap captureTap
	pkt := []byte{0x82, 8, 1, 2, 3}
	if n := testing.AllocsPerRun(100, func() { tap.tap(control.TravelOut, pkt) }); n != 0 {
		t.Errorf("tap without a capture: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { tap.tapEvent(p2p.Event{Kind: packet.EventConnect, Dir: packet.ET}) }); n != 0 {
		t.Errorf("event tap without a capture: %v allocations", n)
	}
	s, _ := newCaptureSub(control.CaptureArgs{}, 1)
	tap.add(s, control.MaxCaptures)
	if n := testing.AllocsPerRun(100, func() {
		tap.tap(control.TravelOut, pkt)
		select {
		case <-s.c:
		default:
		}
	}); n != 0 {
		t.Errorf("tap with a capture: %v allocations", n)
	}
}

// TestCaptureStream runs a capture over control.sock between two
// daemons: the start state, packets both ways, and the end record.
func TestCaptureStream(t *testing.T) {
	a, b := dev.Pipe(packet.ET, 64)
	ca := testConfig(t)
	da := startDaemon(t, ca, a)
	db := startDaemon(t, testConfig(t), b)
	eventually(t, "A sees B live", func() bool { return da.nbr.isLive(packet.ET) })
	_ = db

	cc, err := control.Dial(ca.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	st, err := cc.Capture(control.CaptureArgs{Links: []packet.Dir{packet.ET}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Info.Tile != da.Self().String() || st.Info.Queue != control.CaptureQueue {
		t.Fatalf("capture info %+v", st.Info)
	}
	st.SetDeadline(time.Now().Add(20 * time.Second))
	r, err := st.Next()
	if err != nil || r.Travel != control.TravelEvent || r.Link != uint8(packet.ET) || len(r.Data) != p2p.EventPacketLen || packet.Event(r.Data[1]) != packet.EventConnect {
		t.Fatalf("first record %+v (%v), want a TEP connect on ET", r, err)
	}
	seen := map[control.Travel]bool{}
	for !seen[control.TravelIn] || !seen[control.TravelOut] {
		r, err := st.Next()
		if err != nil {
			t.Fatal(err)
		}
		if r.Type != control.RecordPacket || r.Link != uint8(packet.ET) {
			t.Fatalf("record %+v", r)
		}
		if r.Travel != control.TravelEvent && (len(r.Data) < 2 || r.Data[0]&packet.MaskDir != byte(packet.ET) || packet.Service(r.Data[1]) != packet.ServiceLiveness) {
			t.Fatalf("record of % x: want hellos on ET", r.Data)
		}
		seen[r.Travel] = true
	}
	if err := st.Stop(); err != nil {
		t.Fatal(err)
	}
	for {
		r, err := st.Next()
		if err != nil {
			t.Fatal(err)
		}
		if r.Type == control.RecordEnd {
			break
		}
	}
	if _, err := st.Next(); err == nil {
		t.Fatal("a record after the end")
	}
	eventually(t, "the capture is gone", func() bool { return da.capture.subs.Load() == nil })
}

func TestCaptureRefusesBadArgs(t *testing.T) {
	ca := testConfig(t)
	a, _ := dev.Pipe(packet.ET, 4)
	startDaemon(t, ca, a)
	cc, err := control.Dial(ca.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if _, err := cc.Capture(control.CaptureArgs{Kinds: []string{"tcp"}}); err == nil || !strings.Contains(err.Error(), `unknown kind "tcp"`) {
		t.Fatalf("a capture of kind tcp: %v", err)
	}
	// The connection is still a control connection.
	if err := cc.Call("ping", nil, nil); err != nil {
		t.Fatalf("ping after a refused capture: %v", err)
	}
}
