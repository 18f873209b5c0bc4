package packet_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
)

// headerLen is how many bytes of a valid packet come before its Payload.
func headerLen(p *packet.Packet) int {
	switch {
	case p.Kind == packet.KindService:
		return packet.ServiceHeaderLen
	case p.Kind == packet.KindLocal && p.Local == packet.LocalTEP:
		return packet.TEPHeaderLen
	}
	return 1
}

// FuzzDecode checks that Decode never panics, that every error is one of
// the *packet.Error sentinels, and that every packet that decodes encodes
// back to exactly the input bytes: each bit of a valid packet is held in
// some field of Packet, so the codec is a bijection on valid packets.
func FuzzDecode(f *testing.F) {
	for _, tc := range validCases() {
		f.Add(tc.in)
	}
	for _, tc := range errorCases() {
		if len(tc.in) <= 4 || len(tc.in) > 255 {
			f.Add(tc.in)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := append([]byte(nil), b...)
		p, err := packet.Decode(b)
		if !bytes.Equal(in, b) {
			t.Fatalf("Decode modified its input")
		}
		if err != nil {
			var pe *packet.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Decode(% x) error %T %v is not a *packet.Error", b, err, err)
			}
			if !equal(p, packet.Packet{}) {
				t.Fatalf("Decode(% x) returned %+v with error %v", b, p, err)
			}
			return
		}
		if p.Kind == packet.KindInvalid {
			t.Fatalf("Decode(% x) = KindInvalid with no error", b)
		}
		if headerLen(&p)+len(p.Payload) != len(b) {
			t.Fatalf("Decode(% x): header %d + payload %d != %d", b, headerLen(&p), len(p.Payload), len(b))
		}
		if (p.Kind == packet.KindMFM || p.Kind == packet.KindService) && !p.Dir.IsLink() {
			t.Fatalf("Decode(% x): routed packet with dir %v", b, p.Dir)
		}
		if d, ok := packet.RoutedDir(b); ok != (p.Kind == packet.KindMFM || p.Kind == packet.KindService) || (ok && d != p.Dir) {
			t.Fatalf("RoutedDir(% x) = %v, %v disagrees with Decode %+v", b, d, ok, p)
		}
		out, err := packet.Append(nil, &p)
		if err != nil {
			t.Fatalf("Append(Decode(% x) = %+v): %v", b, p, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("Append(Decode(% x)) = % x", b, out)
		}
	})
}

// FuzzRoundTrip builds a Packet from fuzzed fields. Whenever Append accepts
// it, Decode must give the same packet back (fields that do not apply to
// the kind are ignored by Append and come back zero); whenever Append
// rejects it, dst must come back unchanged.
func FuzzRoundTrip(f *testing.F) {
	type seed struct {
		kind, dir         uint8
		ovrn, eror        bool
		svc, local, event uint8
		edir, ascii       uint8
		payload           []byte
	}
	seeds := []seed{
		{uint8(packet.KindNonStandard), 0, false, false, 0, 0, 0, 0, 'A', nil},
		{uint8(packet.KindNonStandard), 0, false, false, 0, 0, 0, 0, 0x80, nil},
		{uint8(packet.KindMFM), 2, false, false, 0, 0, 0, 0, 0, []byte{1, 2, 3}},
		{uint8(packet.KindMFM), 7, true, true, 0, 0, 0, 0, 0, seq(254)},
		{uint8(packet.KindMFM), 0, false, false, 0, 0, 0, 0, 0, nil},
		{uint8(packet.KindMFM), 2, false, false, 0, 0, 0, 0, 0, seq(255)},
		{uint8(packet.KindService), 2, false, false, 1, 0, 0, 0, 0, nil},
		{uint8(packet.KindService), 6, true, false, 63, 0, 0, 0, 0, seq(253)},
		{uint8(packet.KindService), 1, false, true, 8, 0, 0, 0, 0, []byte("chunk")},
		{uint8(packet.KindService), 2, false, false, 0, 0, 0, 0, 0, nil},
		{uint8(packet.KindService), 2, false, false, 64, 0, 0, 0, 0, nil},
		{uint8(packet.KindService), 4, false, false, 1, 0, 0, 0, 0, nil},
		{uint8(packet.KindService), 9, false, false, 1, 0, 0, 0, 0, nil},
		{uint8(packet.KindService), 2, false, false, 1, 0, 0, 0, 0, seq(254)},
		{uint8(packet.KindLocal), 0, false, false, 0, 1, 0, 0, 0, []byte{1}},
		{uint8(packet.KindLocal), 0, false, false, 0, 2, 0, 0, 0, nil},
		{uint8(packet.KindLocal), 0, false, false, 0, 3, 0, 0, 0, []byte{'P'}},
		{uint8(packet.KindLocal), 0, false, false, 0, 0, 0, 0, 0, nil},
		{uint8(packet.KindLocal), 0, false, false, 0, 5, 0, 0, 0, nil},
		{uint8(packet.KindLocal), 0, false, false, 0, 32, 0, 0, 0, nil},
		{uint8(packet.KindLocal), 0, false, false, 0, 4, 1, 2, 0, identity},
		{uint8(packet.KindLocal), 0, false, false, 0, 4, 2, 5, 0, nil},
		{uint8(packet.KindLocal), 0, false, false, 0, 4, 3, 2, 0, nil},
		{uint8(packet.KindLocal), 0, false, false, 0, 4, 1, 4, 0, nil},
		{uint8(packet.KindLocal), 0, false, false, 0, 4, 1, 8, 0, nil},
		{uint8(packet.KindInvalid), 2, false, false, 1, 1, 1, 1, 1, nil},
		{200, 2, false, false, 1, 1, 1, 1, 1, nil},
	}
	for _, s := range seeds {
		f.Add(s.kind, s.dir, s.ovrn, s.eror, s.svc, s.local, s.event, s.edir, s.ascii, s.payload)
	}
	f.Fuzz(func(t *testing.T, kind, dir uint8, ovrn, eror bool, svc, local, event, edir, ascii uint8, payload []byte) {
		p := packet.Packet{
			Kind: packet.Kind(kind), Dir: packet.Dir(dir), Overrun: ovrn, Error: eror,
			Service: packet.Service(svc), Local: packet.LocalType(local), Event: packet.Event(event),
			EventDir: packet.Dir(edir), ASCII: ascii, Payload: payload,
		}
		orig := p
		buf := bytes.Repeat([]byte{0xee}, 3+packet.MaxLen+1)
		dst := buf[:3:len(buf)]
		out, err := packet.Append(dst, &p)
		if !equal(p, orig) {
			t.Fatalf("Append modified the packet")
		}
		if err != nil {
			var pe *packet.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Append error %T %v is not a *packet.Error", err, err)
			}
			if len(out) != 3 || !bytes.Equal(buf, bytes.Repeat([]byte{0xee}, len(buf))) {
				t.Fatalf("Append failed (%v) but changed dst", err)
			}
			return
		}
		if len(out) > 3+packet.MaxLen || len(out) < 4 || &out[0] != &buf[0] {
			t.Fatalf("Append wrote %d bytes", len(out)-3)
		}
		got, err := packet.Decode(out[3:])
		if err != nil {
			t.Fatalf("Decode(Append(%+v) = % x): %v", p, out[3:], err)
		}
		want := packet.Packet{Kind: p.Kind, Payload: p.Payload}
		switch p.Kind {
		case packet.KindNonStandard:
			want.ASCII = p.ASCII
		case packet.KindService:
			want.Service = p.Service
			fallthrough
		case packet.KindMFM:
			want.Dir, want.Overrun, want.Error = p.Dir, p.Overrun, p.Error
		case packet.KindLocal:
			want.Local = p.Local
			if p.Local == packet.LocalTEP {
				want.Event, want.EventDir = p.Event, p.EventDir
			}
		default:
			t.Fatalf("Append accepted kind %v", p.Kind)
		}
		if !equal(got, want) {
			t.Fatalf("Decode(Append(%+v))\n got %+v\nwant %+v", p, got, want)
		}
	})
}
