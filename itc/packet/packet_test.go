package packet_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
)

// seq returns n bytes 0, 1, 2, ... (mod 256), for payloads.
func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// identity is an 8-byte tile identity as itcd puts it in a TEP's OPT_ARGS.
var identity = []byte{0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67}

type validCase struct {
	name string
	in   []byte
	want packet.Packet
}

func validCases() []validCase {
	return []validCase{
		// Non-standard: STND=0, the byte is ASCII.
		{"nonstandard A", []byte{'A'}, packet.Packet{Kind: packet.KindNonStandard, ASCII: 'A', Payload: []byte{}}},
		{"nonstandard NUL", []byte{0x00}, packet.Packet{Kind: packet.KindNonStandard, ASCII: 0, Payload: []byte{}}},
		{"nonstandard DEL with tail", []byte{0x7f, 1, 2}, packet.Packet{Kind: packet.KindNonStandard, ASCII: 0x7f, Payload: []byte{1, 2}}},
		{"nonstandard 255 bytes", cat([]byte{'x'}, seq(254)), packet.Packet{Kind: packet.KindNonStandard, ASCII: 'x', Payload: seq(254)}},

		// MFM: 1 0 1 OVRN EROR DIR.
		{"mfm ET", []byte{0xa2, 9, 8, 7}, packet.Packet{Kind: packet.KindMFM, Dir: packet.ET, Payload: []byte{9, 8, 7}}},
		{"mfm NE header only", []byte{0xa1}, packet.Packet{Kind: packet.KindMFM, Dir: packet.NE, Payload: []byte{}}},
		{"mfm OVRN SE", []byte{0xb3, 1}, packet.Packet{Kind: packet.KindMFM, Dir: packet.SE, Overrun: true, Payload: []byte{1}}},
		{"mfm EROR SW", []byte{0xad, 1}, packet.Packet{Kind: packet.KindMFM, Dir: packet.SW, Error: true, Payload: []byte{1}}},
		{"mfm OVRN EROR NW", []byte{0xbf}, packet.Packet{Kind: packet.KindMFM, Dir: packet.NW, Overrun: true, Error: true, Payload: []byte{}}},
		{"mfm WT 255 bytes", cat([]byte{0xa6}, seq(254)), packet.Packet{Kind: packet.KindMFM, Dir: packet.WT, Payload: seq(254)}},

		// Service: 1 0 0 OVRN EROR DIR, then RSV1 RSV0 SVC5..0.
		{"service 1 ET", []byte{0x82, 0x01}, packet.Packet{Kind: packet.KindService, Dir: packet.ET, Service: 1, Payload: []byte{}}},
		{"service 63 NW", []byte{0x87, 0x3f, 0xaa}, packet.Packet{Kind: packet.KindService, Dir: packet.NW, Service: 63, Payload: []byte{0xaa}}},
		{"service 8 WT", []byte{0x86, 0x08, 1, 2, 3}, packet.Packet{Kind: packet.KindService, Dir: packet.WT, Service: packet.ServiceMFZ, Payload: []byte{1, 2, 3}}},
		{"service 2 OVRN EROR NE", []byte{0x99, 0x02}, packet.Packet{Kind: packet.KindService, Dir: packet.NE, Service: packet.ServiceCounter, Overrun: true, Error: true, Payload: []byte{}}},
		{"service 255 bytes", cat([]byte{0x85, 0x01}, seq(253)), packet.Packet{Kind: packet.KindService, Dir: packet.SW, Service: 1, Payload: seq(253)}},

		// Local: 1 1 0 TYPE.
		{"local debug", []byte{0xc1, 0x12, 0x34}, packet.Packet{Kind: packet.KindLocal, Local: packet.LocalDebug, Payload: []byte{0x12, 0x34}}},
		{"local debug header only", []byte{0xc1}, packet.Packet{Kind: packet.KindLocal, Local: packet.LocalDebug, Payload: []byte{}}},
		{"local labelled", []byte{0xc2, 'n', 5}, packet.Packet{Kind: packet.KindLocal, Local: packet.LocalLabelled, Payload: []byte{'n', 5}}},
		{"local control P", []byte{0xc3, 'P'}, packet.Packet{Kind: packet.KindLocal, Local: packet.LocalControl, Payload: []byte{packet.ControlLinkUp}}},
		{"local control F", []byte{0xc3, 'F'}, packet.Packet{Kind: packet.KindLocal, Local: packet.LocalControl, Payload: []byte{packet.ControlFramingError}}},
		{"local control T", []byte{0xc3, 'T'}, packet.Packet{Kind: packet.KindLocal, Local: packet.LocalControl, Payload: []byte{packet.ControlTimeout}}},

		// TEP: 0xC4 EVENT DIR8 OPT_ARGS*.
		{"tep connect ET", []byte{0xc4, 1, 2}, packet.Packet{Kind: packet.KindLocal, Local: packet.LocalTEP, Event: packet.EventConnect, EventDir: packet.ET, Payload: []byte{}}},
		{"tep disconnect NW", []byte{0xc4, 2, 7}, packet.Packet{Kind: packet.KindLocal, Local: packet.LocalTEP, Event: packet.EventDisconnect, EventDir: packet.NW, Payload: []byte{}}},
		{"tep mfm compatible SE", []byte{0xc4, 3, 3}, packet.Packet{Kind: packet.KindLocal, Local: packet.LocalTEP, Event: packet.EventMFMCompatible, EventDir: packet.SE, Payload: []byte{}}},
		{"tep mfm incompatible WT", []byte{0xc4, 4, 6}, packet.Packet{Kind: packet.KindLocal, Local: packet.LocalTEP, Event: packet.EventMFMIncompatible, EventDir: packet.WT, Payload: []byte{}}},
		{"tep connect WT identity", cat([]byte{0xc4, 1, 6}, identity), packet.Packet{Kind: packet.KindLocal, Local: packet.LocalTEP, Event: packet.EventConnect, EventDir: packet.WT, Payload: identity}},
		{"tep disconnect NE identity", cat([]byte{0xc4, 2, 1}, identity), packet.Packet{Kind: packet.KindLocal, Local: packet.LocalTEP, Event: packet.EventDisconnect, EventDir: packet.NE, Payload: identity}},
		{"tep 255 bytes", cat([]byte{0xc4, 1, 3}, seq(252)), packet.Packet{Kind: packet.KindLocal, Local: packet.LocalTEP, Event: packet.EventConnect, EventDir: packet.SE, Payload: seq(252)}},
	}
}

// equal compares two packets field by field and their payloads by content.
func equal(a, b packet.Packet) bool {
	return a.Kind == b.Kind && a.Dir == b.Dir && a.Overrun == b.Overrun &&
		a.Error == b.Error && a.Service == b.Service && a.Local == b.Local &&
		a.Event == b.Event && a.EventDir == b.EventDir && a.ASCII == b.ASCII &&
		bytes.Equal(a.Payload, b.Payload)
}

func TestDecodeValid(t *testing.T) {
	for _, tc := range validCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := packet.Decode(tc.in)
			if err != nil {
				t.Fatalf("Decode(% x): %v", tc.in, err)
			}
			if !equal(got, tc.want) {
				t.Fatalf("Decode(% x)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
			// Payload aliases the tail of the input.
			if len(got.Payload) > 0 && &got.Payload[len(got.Payload)-1] != &tc.in[len(tc.in)-1] {
				t.Errorf("Payload does not alias the input")
			}
			if got.Suspect() != (tc.want.Overrun || tc.want.Error) {
				t.Errorf("Suspect() = %v", got.Suspect())
			}
			// Every bit of a valid packet is represented: re-encoding
			// gives the same bytes.
			enc, err := packet.Append([]byte{0xee}, &got)
			if err != nil {
				t.Fatalf("Append(%+v): %v", got, err)
			}
			if !bytes.Equal(enc[1:], tc.in) || enc[0] != 0xee {
				t.Fatalf("Append = % x, want ee % x", enc, tc.in)
			}
		})
	}
}

type errorCase struct {
	name string
	in   []byte
	want *packet.Error
}

func errorCases() []errorCase {
	cs := []errorCase{
		{"nil", nil, packet.ErrEmpty},
		{"empty", []byte{}, packet.ErrEmpty},
		{"256 bytes service", cat([]byte{0x82, 0x01}, seq(254)), packet.ErrTooLong},
		{"256 bytes nonstandard", cat([]byte{'A'}, seq(255)), packet.ErrTooLong},
		{"1000 bytes", make([]byte, 1000), packet.ErrTooLong},
		{"service 1 byte", []byte{0x82}, packet.ErrShortService},
		{"service 1 byte OVRN EROR", []byte{0x9f}, packet.ErrShortService},
		{"service 0", []byte{0x82, 0x00}, packet.ErrService0},
		{"service 0 with payload", []byte{0x86, 0x00, 1, 2}, packet.ErrService0},
		{"RSV0 set", []byte{0x82, 0x41}, packet.ErrReservedBits},
		{"RSV1 set", []byte{0x82, 0x81}, packet.ErrReservedBits},
		{"RSV both set", []byte{0x82, 0xff}, packet.ErrReservedBits},
		{"RSV set service 0", []byte{0x82, 0x40}, packet.ErrReservedBits},
		{"service to NT", []byte{0x80, 0x01}, packet.ErrNoLink},
		{"service to ST", []byte{0x84, 0x01}, packet.ErrNoLink},
		{"service to NT 1 byte", []byte{0x80}, packet.ErrNoLink},
		{"service OVRN EROR ST", []byte{0x9c, 0x01}, packet.ErrNoLink},
		{"mfm to NT", []byte{0xa0, 1}, packet.ErrNoLink},
		{"mfm to ST", []byte{0xa4}, packet.ErrNoLink},
		{"mfm OVRN EROR NT", []byte{0xb8}, packet.ErrNoLink},
		{"local type 0", []byte{0xc0}, packet.ErrIllegalLocal},
		{"local type 0 with payload", []byte{0xc0, 1, 2}, packet.ErrIllegalLocal},
		{"tep header only", []byte{0xc4}, packet.ErrShortTEP},
		{"tep no dir", []byte{0xc4, 0x01}, packet.ErrShortTEP},
		{"tep dir NT", []byte{0xc4, 1, 0}, packet.ErrTEPDir},
		{"tep dir ST", []byte{0xc4, 2, 4}, packet.ErrTEPDir},
	}
	for h := 0xe0; h <= 0xff; h++ {
		cs = append(cs, errorCase{fmt.Sprintf("local bit 5 %#02x", h), []byte{byte(h), 1, 2}, packet.ErrLocalMFMT})
	}
	for h := 0xc5; h <= 0xdf; h++ {
		cs = append(cs, errorCase{fmt.Sprintf("local reserved %#02x", h), []byte{byte(h)}, packet.ErrReservedLocal})
	}
	for e := 0; e <= 255; e++ {
		if e >= 1 && e <= 4 {
			continue
		}
		cs = append(cs, errorCase{fmt.Sprintf("tep event %d", e), []byte{0xc4, byte(e), 2}, packet.ErrTEPEvent})
	}
	for d := 8; d <= 255; d++ {
		cs = append(cs, errorCase{fmt.Sprintf("tep dir %d", d), []byte{0xc4, 1, byte(d)}, packet.ErrBadDir})
	}
	return cs
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range errorCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := packet.Decode(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode(% x) error = %v, want %v", tc.in, err, tc.want)
			}
			var pe *packet.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *packet.Error", err)
			}
			if !equal(got, packet.Packet{}) || got.Payload != nil {
				t.Fatalf("Decode returned %+v with an error, want the zero Packet", got)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	all := []*packet.Error{
		packet.ErrEmpty, packet.ErrTooLong, packet.ErrShortService, packet.ErrService0,
		packet.ErrBadService, packet.ErrReservedBits, packet.ErrNoLink, packet.ErrBadDir,
		packet.ErrLocalMFMT, packet.ErrIllegalLocal, packet.ErrReservedLocal, packet.ErrShortTEP,
		packet.ErrTEPEvent, packet.ErrTEPDir, packet.ErrNotASCII, packet.ErrKind,
	}
	seen := map[string]bool{}
	for _, e := range all {
		m := e.Error()
		if len(m) < len("packet: ")+5 || m[:8] != "packet: " {
			t.Errorf("message %q: want a \"packet: \" prefix and a reason", m)
		}
		if seen[m] {
			t.Errorf("message %q used twice", m)
		}
		seen[m] = true
	}
}

// failing runs an encoder that must fail on a dst whose spare capacity is
// filled with a marker, and checks that it returns dst unchanged and wrote
// nothing, not even past len(dst).
func failing(t *testing.T, want *packet.Error, enc func(dst []byte) ([]byte, error)) {
	t.Helper()
	buf := bytes.Repeat([]byte{0xee}, 600)
	dst := buf[:3:600]
	got, err := enc(dst)
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
	if len(got) != 3 || cap(got) != 600 || &got[0] != &buf[0] {
		t.Fatalf("returned len %d cap %d, want dst unchanged (len 3 cap 600)", len(got), cap(got))
	}
	if !bytes.Equal(buf, bytes.Repeat([]byte{0xee}, 600)) {
		t.Fatalf("failing encoder wrote into dst's spare capacity")
	}
}

func TestAppendEncoders(t *testing.T) {
	tests := []struct {
		name string
		enc  func(dst []byte) ([]byte, error)
		want []byte
	}{
		{"service", func(d []byte) ([]byte, error) {
			return packet.AppendService(d, packet.ET, packet.ServiceMFZ, []byte{1, 2, 3})
		}, []byte{0x82, 0x08, 1, 2, 3}},
		{"service 63 NW", func(d []byte) ([]byte, error) { return packet.AppendService(d, packet.NW, 63, nil) }, []byte{0x87, 0x3f}},
		{"service max", func(d []byte) ([]byte, error) { return packet.AppendService(d, packet.SE, 1, seq(253)) }, cat([]byte{0x83, 0x01}, seq(253))},
		{"mfm", func(d []byte) ([]byte, error) { return packet.AppendMFM(d, packet.WT, false, false, []byte{7}) }, []byte{0xa6, 7}},
		{"mfm OVRN", func(d []byte) ([]byte, error) { return packet.AppendMFM(d, packet.NE, true, false, nil) }, []byte{0xb1}},
		{"mfm EROR", func(d []byte) ([]byte, error) { return packet.AppendMFM(d, packet.NE, false, true, nil) }, []byte{0xa9}},
		{"mfm max", func(d []byte) ([]byte, error) { return packet.AppendMFM(d, packet.SW, true, true, seq(254)) }, cat([]byte{0xbd}, seq(254))},
		{"local debug", func(d []byte) ([]byte, error) { return packet.AppendLocal(d, packet.LocalDebug, []byte{1}) }, []byte{0xc1, 1}},
		{"local labelled", func(d []byte) ([]byte, error) { return packet.AppendLocal(d, packet.LocalLabelled, nil) }, []byte{0xc2}},
		{"local control", func(d []byte) ([]byte, error) { return packet.AppendLocal(d, packet.LocalControl, []byte{'T'}) }, []byte{0xc3, 'T'}},
		{"local max", func(d []byte) ([]byte, error) { return packet.AppendLocal(d, packet.LocalDebug, seq(254)) }, cat([]byte{0xc1}, seq(254))},
		{"tep connect", func(d []byte) ([]byte, error) { return packet.AppendTEP(d, packet.EventConnect, packet.ET, identity) }, cat([]byte{0xc4, 1, 2}, identity)},
		{"tep disconnect", func(d []byte) ([]byte, error) { return packet.AppendTEP(d, packet.EventDisconnect, packet.SW, nil) }, []byte{0xc4, 2, 5}},
		{"tep mfm compatible", func(d []byte) ([]byte, error) { return packet.AppendTEP(d, packet.EventMFMCompatible, packet.NE, nil) }, []byte{0xc4, 3, 1}},
		{"tep mfm incompatible", func(d []byte) ([]byte, error) {
			return packet.AppendTEP(d, packet.EventMFMIncompatible, packet.NW, nil)
		}, []byte{0xc4, 4, 7}},
		{"tep max", func(d []byte) ([]byte, error) {
			return packet.AppendTEP(d, packet.EventDisconnect, packet.SW, seq(252))
		}, cat([]byte{0xc4, 2, 5}, seq(252))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.enc([]byte("pre"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, cat([]byte("pre"), tc.want)) {
				t.Fatalf("got % x, want \"pre\" + % x", got, tc.want)
			}
		})
	}
}

func TestAppendEncodersReject(t *testing.T) {
	tests := []struct {
		name string
		want *packet.Error
		enc  func(dst []byte) ([]byte, error)
	}{
		{"service NT", packet.ErrNoLink, func(d []byte) ([]byte, error) { return packet.AppendService(d, packet.NT, 1, nil) }},
		{"service ST", packet.ErrNoLink, func(d []byte) ([]byte, error) { return packet.AppendService(d, packet.ST, 1, nil) }},
		{"service dir 8", packet.ErrBadDir, func(d []byte) ([]byte, error) { return packet.AppendService(d, 8, 1, nil) }},
		{"service dir 255", packet.ErrBadDir, func(d []byte) ([]byte, error) { return packet.AppendService(d, 255, 1, nil) }},
		{"service 0", packet.ErrService0, func(d []byte) ([]byte, error) { return packet.AppendService(d, packet.ET, 0, nil) }},
		{"service 64", packet.ErrBadService, func(d []byte) ([]byte, error) { return packet.AppendService(d, packet.ET, 64, nil) }},
		{"service 0x41 (reserved bit)", packet.ErrBadService, func(d []byte) ([]byte, error) { return packet.AppendService(d, packet.ET, 0x41, nil) }},
		{"service 255", packet.ErrBadService, func(d []byte) ([]byte, error) { return packet.AppendService(d, packet.ET, 255, nil) }},
		{"service too long", packet.ErrTooLong, func(d []byte) ([]byte, error) { return packet.AppendService(d, packet.ET, 1, seq(254)) }},
		{"mfm NT", packet.ErrNoLink, func(d []byte) ([]byte, error) { return packet.AppendMFM(d, packet.NT, false, false, nil) }},
		{"mfm ST", packet.ErrNoLink, func(d []byte) ([]byte, error) { return packet.AppendMFM(d, packet.ST, true, true, nil) }},
		{"mfm dir 8", packet.ErrBadDir, func(d []byte) ([]byte, error) { return packet.AppendMFM(d, 8, false, false, nil) }},
		{"mfm dir 15", packet.ErrBadDir, func(d []byte) ([]byte, error) { return packet.AppendMFM(d, 15, false, false, nil) }},
		{"mfm too long", packet.ErrTooLong, func(d []byte) ([]byte, error) { return packet.AppendMFM(d, packet.ET, false, false, seq(255)) }},
		{"local 0", packet.ErrIllegalLocal, func(d []byte) ([]byte, error) { return packet.AppendLocal(d, packet.LocalIllegal, nil) }},
		{"local TEP", packet.ErrShortTEP, func(d []byte) ([]byte, error) { return packet.AppendLocal(d, packet.LocalTEP, []byte{1, 2}) }},
		{"local 5", packet.ErrReservedLocal, func(d []byte) ([]byte, error) { return packet.AppendLocal(d, 5, nil) }},
		{"local 31", packet.ErrReservedLocal, func(d []byte) ([]byte, error) { return packet.AppendLocal(d, 31, nil) }},
		{"local 32 (bit 5)", packet.ErrReservedLocal, func(d []byte) ([]byte, error) { return packet.AppendLocal(d, 32, nil) }},
		{"local 255", packet.ErrReservedLocal, func(d []byte) ([]byte, error) { return packet.AppendLocal(d, 255, nil) }},
		{"local too long", packet.ErrTooLong, func(d []byte) ([]byte, error) { return packet.AppendLocal(d, packet.LocalDebug, seq(255)) }},
		{"tep event 0", packet.ErrTEPEvent, func(d []byte) ([]byte, error) { return packet.AppendTEP(d, 0, packet.ET, nil) }},
		{"tep event 5", packet.ErrTEPEvent, func(d []byte) ([]byte, error) { return packet.AppendTEP(d, 5, packet.ET, nil) }},
		{"tep event 255", packet.ErrTEPEvent, func(d []byte) ([]byte, error) { return packet.AppendTEP(d, 255, packet.ET, nil) }},
		{"tep NT", packet.ErrTEPDir, func(d []byte) ([]byte, error) { return packet.AppendTEP(d, packet.EventConnect, packet.NT, nil) }},
		{"tep ST", packet.ErrTEPDir, func(d []byte) ([]byte, error) { return packet.AppendTEP(d, packet.EventConnect, packet.ST, nil) }},
		{"tep dir 8", packet.ErrBadDir, func(d []byte) ([]byte, error) { return packet.AppendTEP(d, packet.EventConnect, 8, nil) }},
		{"tep too long", packet.ErrTooLong, func(d []byte) ([]byte, error) { return packet.AppendTEP(d, packet.EventConnect, packet.ET, seq(253)) }},
		{"Append invalid kind", packet.ErrKind, func(d []byte) ([]byte, error) { return packet.Append(d, &packet.Packet{}) }},
		{"Append kind 99", packet.ErrKind, func(d []byte) ([]byte, error) { return packet.Append(d, &packet.Packet{Kind: 99, Dir: packet.ET}) }},
		{"Append nonstandard 0x80", packet.ErrNotASCII, func(d []byte) ([]byte, error) {
			return packet.Append(d, &packet.Packet{Kind: packet.KindNonStandard, ASCII: 0x80})
		}},
		{"Append nonstandard too long", packet.ErrTooLong, func(d []byte) ([]byte, error) {
			return packet.Append(d, &packet.Packet{Kind: packet.KindNonStandard, ASCII: 'A', Payload: seq(255)})
		}},
		{"Append service NT", packet.ErrNoLink, func(d []byte) ([]byte, error) {
			return packet.Append(d, &packet.Packet{Kind: packet.KindService, Dir: packet.NT, Service: 1})
		}},
		{"Append service 0", packet.ErrService0, func(d []byte) ([]byte, error) {
			return packet.Append(d, &packet.Packet{Kind: packet.KindService, Dir: packet.ET, Overrun: true})
		}},
		{"Append service 64", packet.ErrBadService, func(d []byte) ([]byte, error) {
			return packet.Append(d, &packet.Packet{Kind: packet.KindService, Dir: packet.ET, Service: 64})
		}},
		{"Append service too long", packet.ErrTooLong, func(d []byte) ([]byte, error) {
			return packet.Append(d, &packet.Packet{Kind: packet.KindService, Dir: packet.ET, Service: 1, Payload: seq(254)})
		}},
		{"Append mfm ST", packet.ErrNoLink, func(d []byte) ([]byte, error) {
			return packet.Append(d, &packet.Packet{Kind: packet.KindMFM, Dir: packet.ST})
		}},
		{"Append local 0", packet.ErrIllegalLocal, func(d []byte) ([]byte, error) {
			return packet.Append(d, &packet.Packet{Kind: packet.KindLocal})
		}},
		{"Append local 7", packet.ErrReservedLocal, func(d []byte) ([]byte, error) {
			return packet.Append(d, &packet.Packet{Kind: packet.KindLocal, Local: 7})
		}},
		{"Append tep event 0", packet.ErrTEPEvent, func(d []byte) ([]byte, error) {
			return packet.Append(d, &packet.Packet{Kind: packet.KindLocal, Local: packet.LocalTEP, EventDir: packet.ET})
		}},
		{"Append tep dir ST", packet.ErrTEPDir, func(d []byte) ([]byte, error) {
			return packet.Append(d, &packet.Packet{Kind: packet.KindLocal, Local: packet.LocalTEP, Event: packet.EventConnect, EventDir: packet.ST})
		}},
		{"Append tep dir 9", packet.ErrBadDir, func(d []byte) ([]byte, error) {
			return packet.Append(d, &packet.Packet{Kind: packet.KindLocal, Local: packet.LocalTEP, Event: packet.EventConnect, EventDir: 9})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { failing(t, tc.want, tc.enc) })
	}
}

// TestAppendIgnoresOtherFields: Append encodes only the fields that apply
// to the packet's kind.
func TestAppendIgnoresOtherFields(t *testing.T) {
	p := packet.Packet{
		Kind: packet.KindMFM, Dir: packet.ET, Service: 99, Local: 31,
		Event: 9, EventDir: 200, ASCII: 0xff, Payload: []byte{1},
	}
	got, err := packet.Append(nil, &p)
	if err != nil || !bytes.Equal(got, []byte{0xa2, 1}) {
		t.Fatalf("Append = % x, %v; want a2 01", got, err)
	}
	p = packet.Packet{Kind: packet.KindLocal, Local: packet.LocalDebug, Dir: 200, Overrun: true, Event: 7}
	got, err = packet.Append(nil, &p)
	if err != nil || !bytes.Equal(got, []byte{0xc1}) {
		t.Fatalf("Append = % x, %v; want c1", got, err)
	}
}

func TestSetArrival(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		d    packet.Dir
		want []byte
	}{
		{"service ET->WT", []byte{0x82, 0x01, 9}, packet.WT, []byte{0x86, 0x01, 9}},
		{"service keeps OVRN EROR", []byte{0x9a, 0x01}, packet.NE, []byte{0x99, 0x01}},
		{"mfm", []byte{0xa2, 5}, packet.SE, []byte{0xa3, 5}},
		{"mfm keeps flags", []byte{0xbf}, packet.SW, []byte{0xbd}},
		{"routed to NT", []byte{0x87}, packet.NT, []byte{0x80}},
		{"dir masked to 3 bits", []byte{0x82}, 8 + packet.ET, []byte{0x82}},
		{"local untouched", []byte{0xc1, 1}, packet.WT, []byte{0xc1, 1}},
		{"tep untouched", []byte{0xc4, 1, 2}, packet.WT, []byte{0xc4, 1, 2}},
		{"local bit5 untouched", []byte{0xe2}, packet.WT, []byte{0xe2}},
		{"nonstandard untouched", []byte{'A'}, packet.WT, []byte{'A'}},
		{"empty", []byte{}, packet.WT, []byte{}},
		{"nil", nil, packet.WT, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), tc.in...)
			packet.SetArrival(b, tc.d)
			if !bytes.Equal(b, tc.want) {
				t.Fatalf("SetArrival(% x, %v) = % x, want % x", tc.in, tc.d, b, tc.want)
			}
		})
	}
}

func TestRoutedDir(t *testing.T) {
	tests := []struct {
		in   []byte
		want packet.Dir
		ok   bool
	}{
		{[]byte{0x82, 0x01}, packet.ET, true},
		{[]byte{0xbf}, packet.NW, true},
		{[]byte{0x80}, packet.NT, true}, // routed, though Decode rejects it
		{[]byte{0xa4}, packet.ST, true},
		{[]byte{0xc4, 1, 2}, 0, false},
		{[]byte{0xe5}, 0, false},
		{[]byte{'A'}, 0, false},
		{[]byte{0x07}, 0, false},
		{nil, 0, false},
	}
	for _, tc := range tests {
		d, ok := packet.RoutedDir(tc.in)
		if d != tc.want || ok != tc.ok {
			t.Errorf("RoutedDir(% x) = %v, %v; want %v, %v", tc.in, d, ok, tc.want, tc.ok)
		}
	}
}

func TestNames(t *testing.T) {
	kinds := map[packet.Kind]string{
		packet.KindInvalid: "invalid", packet.KindNonStandard: "nonstandard", packet.KindMFM: "mfm",
		packet.KindService: "service", packet.KindLocal: "local", 99: "invalid",
	}
	for k, want := range kinds {
		if k.String() != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, k.String(), want)
		}
		if b, _ := k.MarshalText(); string(b) != want {
			t.Errorf("Kind(%d).MarshalText() = %q", k, b)
		}
	}
	locals := map[packet.LocalType]string{0: "illegal", 1: "debug", 2: "labelled", 3: "control", 4: "tep", 5: "reserved", 31: "reserved", 255: "reserved"}
	for l, want := range locals {
		if l.String() != want {
			t.Errorf("LocalType(%d).String() = %q, want %q", l, l.String(), want)
		}
	}
	events := map[packet.Event]string{0: "illegal", 1: "connect", 2: "disconnect", 3: "mfm_compatible", 4: "mfm_incompatible", 5: "illegal", 255: "illegal"}
	for e, want := range events {
		if e.String() != want {
			t.Errorf("Event(%d).String() = %q, want %q", e, e.String(), want)
		}
		if b, _ := e.MarshalText(); string(b) != want {
			t.Errorf("Event(%d).MarshalText() = %q", e, b)
		}
	}
}

// sink keeps the compiler from discarding benchmarked and measured work.
var (
	sinkPacket packet.Packet
	sinkErr    error
)

func TestDecodeNoAlloc(t *testing.T) {
	cases := validCases()
	for _, tc := range errorCases()[:12] {
		cases = append(cases, validCase{name: "error " + tc.name, in: tc.in})
	}
	cases = append(cases, validCase{name: "error local bit 5", in: []byte{0xff}},
		validCase{name: "error tep event", in: []byte{0xc4, 9, 2}},
		validCase{name: "error tep dir", in: []byte{0xc4, 1, 99}})
	for _, tc := range cases {
		in := tc.in
		allocs := testing.AllocsPerRun(100, func() {
			sinkPacket, sinkErr = packet.Decode(in)
		})
		if allocs != 0 {
			t.Errorf("%s: Decode(% x) allocates %v times, want 0", tc.name, in, allocs)
		}
	}
}

func TestAppendNoAlloc(t *testing.T) {
	buf := make([]byte, 0, packet.MaxLen)
	payload := seq(200)
	p := packet.Packet{Kind: packet.KindService, Dir: packet.ET, Service: 8, Payload: payload}
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = packet.AppendService(buf[:0], packet.ET, packet.ServiceMFZ, payload)
		buf, _ = packet.AppendMFM(buf[:0], packet.WT, false, true, payload)
		buf, _ = packet.AppendLocal(buf[:0], packet.LocalDebug, payload)
		buf, _ = packet.AppendTEP(buf[:0], packet.EventConnect, packet.NE, identity)
		buf, _ = packet.Append(buf[:0], &p)
		buf, sinkErr = packet.AppendService(buf[:0], packet.NT, 0, payload) // error path
	})
	if allocs != 0 {
		t.Errorf("encoders into a reused buffer allocate %v times, want 0", allocs)
	}
}
