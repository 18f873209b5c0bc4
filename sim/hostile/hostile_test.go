package hostile_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/counter"
	"github.com/t2tiles/itcd/services/mfz/dist"
	"github.com/t2tiles/itcd/sim/hostile"
)

// The kit speaks the frames of a real UDP device both ways: the device's
// link comes up on the Neighbour's keepalives, reads what it sends with
// DIR rewritten to the arrival link, and what the device writes reaches
// the Handler decoded.
func TestNeighbourAndDevice(t *testing.T) {
	got := make(chan hostile.Received, 16)
	n, err := hostile.Listen(hostile.Config{Dir: packet.ET, HelloInterval: -1, Handler: func(_ *hostile.Neighbour, r *hostile.Received) {
		if r.Frame.Type == dev.FramePacket {
			got <- r.Clone()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	cfg := dev.DefaultUDPConfig()
	cfg.Links = map[packet.Dir]string{packet.WT: n.Addr().String()}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := dev.OpenUDP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := n.SendKeepalive(); !errors.Is(err, hostile.ErrNotStarted) {
		t.Fatalf("send before Start: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := n.Start(ctx, d.LocalAddr().String()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !d.Status().Up(packet.WT) {
		if time.Now().After(deadline) {
			t.Fatal("the device's link never came up on the Neighbour's keepalives")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Neighbour -> device.
	h := n.Hello()
	if err := n.SendHello(h); err != nil {
		t.Fatal(err)
	}
	if err := n.SendService(packet.ServiceCounter, counter.AppendValue(nil, -7)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, packet.MaxLen)
	k, err := d.ReadPacket(buf)
	if err != nil {
		t.Fatal(err)
	}
	p, err := packet.Decode(buf[:k])
	if hh, ok := daemon.ParseHello(p.Payload); err != nil || p.Dir != packet.WT || p.Service != packet.ServiceLiveness || !ok || hh != h {
		t.Fatalf("device read %+v (%v), want the hello %+v from WT", p, err, h)
	}
	k, _ = d.ReadPacket(buf)
	p, _ = packet.Decode(buf[:k])
	if m, err := counter.ParseMessage(p.Payload); err != nil || p.Service != packet.ServiceCounter || m.Value != -7 {
		t.Fatalf("device read %+v, want counter value -7", p)
	}

	// Device -> Neighbour.
	pkt, _ := packet.AppendService(nil, packet.WT, packet.ServiceMFZ, dist.AppendMessage(nil, &dist.Message{Type: dist.MsgNotHave, Handle: 3, Block: 12}))
	if err := d.WritePacket(pkt); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		m, err := r.Dist()
		if err != nil || m.Type != dist.MsgNotHave || m.Handle != 3 || m.Block != 12 || r.Packet.Dir != packet.WT {
			t.Fatalf("Neighbour got %+v: %+v, %v", r.Packet, m, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing reached the Neighbour")
	}
	if s := n.Stats(); s.Keepalives == 0 || s.Packets != 1 || s.Bad != 0 {
		t.Errorf("stats %+v", s)
	}
	// Garbage is counted by the device, not read.
	bad0 := d.Stats().BadDatagram
	if _, err := n.Flood(ctx, hostile.Flood{Gen: func(*hostile.Neighbour, *rand.Rand, []byte) ([]byte, bool) {
		return []byte{dev.FrameMagic, 9}, true
	}, Count: 10}); err != nil {
		t.Fatal(err)
	}
	for d.Stats().BadDatagram < bad0+10 {
		if time.Now().After(deadline) {
			t.Fatalf("device counted %d bad datagrams, want %d", d.Stats().BadDatagram-bad0, 10)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFloodIsBounded(t *testing.T) {
	n, err := hostile.Listen(hostile.Config{Dir: packet.ET})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	for _, f := range []hostile.Flood{
		{Gen: hostile.Garbage(10)},
		{Gen: hostile.Garbage(10), Count: hostile.MaxFloodCount + 1},
		{Gen: hostile.Garbage(10), Duration: time.Hour},
		{Count: 1},
	} {
		if _, err := n.Flood(ctx, f); err == nil {
			t.Errorf("flood %+v accepted", f)
		}
	}
	if _, err := n.Flood(ctx, hostile.Flood{Gen: hostile.Garbage(10), Count: 1}); !errors.Is(err, hostile.ErrNotStarted) {
		t.Errorf("flood before Start: %v", err)
	}
}

// Every Gen makes what it promises: raw datagrams of bounded length, and
// packets a frame can carry; Absurd's all decode as routed packets, and
// ForgedHellos' as hellos a daemon takes.
func TestGens(t *testing.T) {
	n, err := hostile.Listen(hostile.Config{Dir: packet.ET})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	r := rand.New(rand.NewPCG(1, 2))
	for name, g := range map[string]hostile.Gen{
		"garbage": hostile.Garbage(400), "absurd": hostile.Absurd(), "dist": hostile.AbsurdDist(), "hellos": hostile.ForgedHellos(),
	} {
		for range 5000 {
			b, raw := g(n, r, nil)
			if raw {
				if name != "garbage" || len(b) > dev.MaxFrameLen+16 {
					t.Fatalf("%s: raw datagram of %d bytes", name, len(b))
				}
				continue
			}
			if len(b) < 1 || len(b) > packet.MaxLen {
				t.Fatalf("%s: packet of %d bytes", name, len(b))
			}
			if name == "garbage" {
				continue
			}
			p, err := packet.Decode(b)
			if err != nil || p.Kind != packet.KindService && p.Kind != packet.KindMFM || p.Dir != packet.ET {
				t.Fatalf("%s: % x: %+v, %v", name, b, p, err)
			}
			if _, ok := daemon.ParseHello(p.Payload); name == "hellos" && !ok {
				t.Fatalf("hellos: % x does not parse", b)
			}
		}
	}
	// Every service 8 type is in the absurd list, and most of the list is
	// past what a tile's parser takes.
	types := map[byte]int{}
	refused := 0
	for _, m := range hostile.AbsurdDistMessages(7) {
		types[m.Type]++
		b := dist.AppendMessage(nil, &m)
		if _, err := dist.ParseMessage(b); err != nil || len(b) > packet.MaxServicePayload {
			refused++
		}
	}
	for ty := byte(dist.MsgAnnounce); ty <= dist.MsgSync; ty++ {
		if types[ty] == 0 {
			t.Errorf("no absurd message of type %d", ty)
		}
	}
	if refused < len(hostile.AbsurdDistMessages(7))/2 {
		t.Errorf("only %d absurd messages are refused by the parser", refused)
	}
	if !bytes.Equal(dist.AppendMessage(nil, &dist.Message{Type: dist.MsgSync}), dist.Seal([]byte{dist.MsgSync, 0})) {
		t.Error("SYNC")
	}
}
