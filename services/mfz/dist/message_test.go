package dist

import (
	"bytes"
	"testing"
)

// ParseMessage reads back every message type the service's builders
// write, and AppendMessage writes it again byte for byte.
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

// The builders the service sends with allocate nothing: DATA goes out for
// every chunk, HAVE and REQUEST for every block.
func TestBuildersDoNotAllocate(t *testing.T) {
	buf := make([]byte, 0, maxMsg)
	chunk := bytes.Repeat([]byte{0x5a}, ChunkLen)
	blocks := make([]int, maxHaves)
	for i := range blocks {
		blocks[i] = 2 * i
	}
	var id fileID
	for _, c := range []struct {
		name  string
		build func()
	}{
		{"DATA", func() { buf = appendData(buf[:0], 3, 17, 2, chunk) }},
		{"SHORT DATA", func() { buf = appendChunk(buf[:0], 3, 17, 2, chunk, true) }},
		{"REQUEST", func() { buf = appendRequest(buf[:0], 3, 17, 2, 9) }},
		{"HAVE", func() { buf = appendHave(buf[:0], 3, 5, blocks) }},
		{"NOTHAVE", func() { buf = appendNotHave(buf[:0], 3, 17) }},
		{"ANNOUNCE", func() { buf = appendAnnounce(buf[:0], 3, flagComplete, 9, 100, 100, id, "a.mfz") }},
		{"MANIFEST", func() { buf = appendManifest(buf[:0], 3, 0, 1000, chunk[:manifestSeg]) }},
	} {
		if a := testing.AllocsPerRun(100, c.build); a != 0 {
			t.Errorf("%s: %.0f allocations per message", c.name, a)
		}
		if len(buf) > maxMsg {
			t.Errorf("%s: %d bytes, more than a packet", c.name, len(buf))
		}
	}
}
