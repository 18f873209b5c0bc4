package dist

import (
	"bytes"
	"testing"
)

// AppendMessage writes every message type exactly as the service's own
// builders do, and ParseMessage reads back what they wrote.
func TestMessageMatchesBuilders(t *testing.T) {
	for _, b := range seeds() {
		m, err := ParseMessage(b)
		if err != nil {
			t.Fatalf("ParseMessage(% x): %v", b, err)
		}
		if out := AppendMessage([]byte{0xee}, &m); !bytes.Equal(out[1:], b) || out[0] != 0xee {
			t.Errorf("type %d: AppendMessage = % x, builder % x", b[0], out[1:], b)
		}
	}
	// Absurd messages are written as asked; a tile refuses them.
	for _, m := range []Message{
		{Type: MsgHave, Handle: 1, Block: 5, Data: []byte{1, 2, 3}},                  // odd block list
		{Type: MsgAnnounce, Handle: 1, Blocks: 5000, Name: "x.mfz"},                  // too many blocks
		{Type: MsgRequest, Handle: 1, Block: 0xffff, Count: 0},                       // no such block, no chunks
		{Type: 0, Handle: 1, Data: []byte("zero")},                                   // type 0
		{Type: MsgManifest, Handle: 255, Offset: 1 << 31, Total: 1 << 31, Data: nil}, // handle 255
	} {
		if _, err := ParseMessage(AppendMessage(nil, &m)); err == nil {
			t.Errorf("%+v: a tile would take it", m)
		}
	}
}

// FuzzMessageRoundTrip: every sealed body that parses is written back by
// AppendMessage byte for byte, so the exported Message loses nothing of a
// message a tile takes.
func FuzzMessageRoundTrip(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s[:len(s)-crcLen])
	}
	f.Add([]byte{MsgSync, 7})           // SYNC with flags
	f.Add([]byte{MsgHave, 0, 0, 0})     // HAVE with an empty list
	f.Add([]byte{MsgAnnounce, 0, 0xff}) // ANNOUNCE cut short
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body)+crcLen > maxMsg {
			return
		}
		b := Seal(bytes.Clone(body))
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		if out := AppendMessage(nil, &m); !bytes.Equal(out, b) {
			t.Fatalf("AppendMessage(ParseMessage(% x)) = % x", b, out)
		}
	})
}
