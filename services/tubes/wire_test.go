package tubes

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func wireSamples() [][]byte {
	return [][]byte{
		appendOpen(nil, 1, 49152, 7, KindStream, 32768),
		appendOpen(nil, 65535, 65535, 65535, KindMessage, 0),
		appendAccept(nil, 9, 10, 70000),
		appendData(nil, 3, 0, 0, nil),
		appendData(nil, 3, 1<<32-5, flagFin, bytes.Repeat([]byte{0xa5}, MaxSegment)),
		appendAck(nil, 4, 100, 50, 32818, nil),
		appendAck(nil, 4, 100, 50, 32818, []span{{200, 300}, {400, 500}, {600, 700}, {800, 900}, {1000, 1100}}),
		appendReset(nil, 5, resetRefused, "port 7 accepts message tubes"),
		appendReset(nil, 5, resetAborted, string(bytes.Repeat([]byte{'z'}, 100))),
		appendCancel(nil, 77),
	}
}

func TestWireRoundTrip(t *testing.T) {
	for _, b := range wireSamples() {
		if len(b) > maxMsg {
			t.Fatalf("type %d: %d bytes, over %d", b[0], len(b), maxMsg)
		}
		m, err := parseMsg(b)
		if err != nil {
			t.Fatalf("type %d: %v", b[0], err)
		}
		if got := reencode(m); !bytes.Equal(got, b) {
			t.Fatalf("type %d: %x re-encoded as %x", b[0], b, got)
		}
	}
	ack, _ := parseMsg(appendAck(nil, 4, 1, 1, 1, make([]span, 9)))
	if len(ack.sacks) != maxSacks {
		t.Fatalf("ACK carries %d ranges, want %d", len(ack.sacks), maxSacks)
	}
	rs, _ := parseMsg(appendReset(nil, 5, 1, "a\x00b\xffc"))
	if rs.reason != "a?b?c" {
		t.Fatalf("reason %q: want unprintable bytes as ?", rs.reason)
	}
}

func TestWireRefuses(t *testing.T) {
	open := appendOpen(nil, 1, 2, 3, KindStream, 4)
	bad := append([]byte(nil), open...)
	bad[4] ^= 1
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, errShort},
		{"flipped bit", bad, errCRC},
		{"unknown type", seal([]byte{99, 0, 1}), errType},
		{"short open", seal(open[:8]), errShort},
		{"short ack", seal([]byte{msgAck, 0, 1, 0, 0, 0, 1}), errShort},
		{"ack ranges missing", seal([]byte{msgAck, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 2}), errShort},
	} {
		if _, err := parseMsg(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := parseMsg(seal([]byte{msgAck, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 5})); err == nil {
		t.Errorf("ACK with 5 ranges parsed")
	}
}

func reencode(m msg) []byte {
	switch m.typ {
	case msgOpen:
		return appendOpen(nil, m.id, m.srcPort, m.dstPort, m.kind, m.window)
	case msgAccept:
		return appendAccept(nil, m.id, m.from, m.window)
	case msgData:
		return appendData(nil, m.id, m.seq, m.flags, m.data)
	case msgAck:
		return appendAck(nil, m.id, m.ack, m.read, m.limit, m.sacks)
	case msgReset:
		return appendReset(nil, m.id, m.code, m.reason)
	case msgCancel:
		return appendCancel(nil, m.id)
	}
	return nil
}

// FuzzParseMsg: any payload parses without panic, and whatever parses
// re-encodes to a message that parses to the same thing.
func FuzzParseMsg(f *testing.F) {
	for _, b := range wireSamples() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMsg(b)
		if err != nil {
			return
		}
		again, err := parseMsg(reencode(m))
		if err != nil {
			t.Fatalf("re-encoded %+v does not parse: %v", m, err)
		}
		if again.data == nil && m.data != nil && len(m.data) == 0 {
			again.data = m.data
		}
		if len(again.data) == 0 && len(m.data) == 0 {
			again.data, m.data = nil, nil
		}
		if len(again.sacks) == 0 && len(m.sacks) == 0 {
			again.sacks, m.sacks = nil, nil
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("%+v re-parsed as %+v", m, again)
		}
	})
}
