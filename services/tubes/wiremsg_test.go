package tubes

import (
	"reflect"
	"testing"
)

// TestWireMessageRoundTrip: what AppendWire makes, ParseWire reads back
// field for field; every encoding is one the service's parser takes.
func TestWireMessageRoundTrip(t *testing.T) {
	for _, m := range []WireMessage{
		{Type: MsgOpen, ID: 1, SrcPort: 49152, DstPort: 7, Kind: KindMessage, Window: 1 << 31},
		{Type: MsgAccept, ID: 65535, From: 3, Window: 0},
		{Type: MsgData, ID: 4, Seq: 1<<32 - 1, Flags: FlagFin, Data: []byte("abc")},
		{Type: MsgAck, ID: 5, Ack: 9, Read: 8, Limit: 7, Sacks: [][2]uint32{{1, 2}, {3, 4}}},
		{Type: MsgReset, ID: 6, Code: 200, Reason: "why not"},
		{Type: MsgCancel, ID: 7},
	} {
		got, err := ParseWire(AppendWire(nil, &m))
		if err != nil {
			t.Fatalf("type %d: %v", m.Type, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("type %d: %+v read back as %+v", m.Type, m, got)
		}
	}
	if _, err := ParseWire(AppendWire(nil, &WireMessage{Type: 99, ID: 1})); err == nil {
		t.Fatal("type 99 parsed")
	}
}
