package dist

import (
	"bytes"
	"errors"
	"testing"
)

func seeds() [][]byte {
	id := fileID{1, 2, 3, 4, 5, 6, 7, 8}
	return [][]byte{
		appendAnnounce(nil, 3, flagComplete, 1700000000000000000, 128, 128, id, "physics.mfz"),
		appendAnnounce(nil, 4, flagTombstone|flagComplete, 5, 0, 0, id, "gone.mfz"),
		appendGetManifest(nil, 3, 486),
		appendManifest(nil, 3, 243, 4300, bytes.Repeat([]byte{0xAB}, manifestSeg)),
		appendBitfield(nil, 3, 8, []byte{0xFF, 0x0F}),
		appendHave(nil, 3, 7, []int{7, 9, 100}),
		appendRequest(nil, 3, 12, 0, 34),
		appendData(nil, 3, 12, 33, bytes.Repeat([]byte{1}, ChunkLen)),
		appendNotHave(nil, 3, 12),
		appendNotHave(nil, 3, blockGone),
		appendSync(nil, 0),
	}
}

func TestCRC16CheckValue(t *testing.T) {
	if c := crc16([]byte("123456789")); c != 0x29B1 {
		t.Fatalf("CRC-16/CCITT-FALSE of 123456789 = %#04x, want 0x29b1", c)
	}
}

func TestWireRoundTrip(t *testing.T) {
	s := seeds()
	for _, b := range s {
		if len(b) > maxMsg {
			t.Errorf("type %d: %d bytes, over %d", b[0], len(b), maxMsg)
		}
		if _, err := parseMessage(b); err != nil {
			t.Errorf("type %d: %v", b[0], err)
		}
	}
	m, _ := parseMessage(s[0])
	if m.typ != msgAnnounce || m.handle != 3 || m.version != 1700000000000000000 || m.blocks != 128 || m.held != 128 ||
		m.fid != (fileID{1, 2, 3, 4, 5, 6, 7, 8}) || m.name != "physics.mfz" || m.flags != flagComplete {
		t.Errorf("announce: %+v", m)
	}
	m, _ = parseMessage(s[6])
	if m.typ != msgRequest || m.block != 12 || m.chunk != 0 || m.count != 34 {
		t.Errorf("request: %+v", m)
	}
	m, _ = parseMessage(s[7])
	if m.typ != msgData || m.block != 12 || m.chunk != 33 || len(m.data) != ChunkLen {
		t.Errorf("data: %+v", m)
	}
	if len(s[7]) != maxMsg {
		t.Errorf("a full DATA message is %d bytes, want %d", len(s[7]), maxMsg)
	}
	m, _ = parseMessage(s[5])
	var got []int
	m.haveBlocks(func(b int) { got = append(got, b) })
	if m.block != 7 || len(got) != 3 || got[2] != 100 {
		t.Errorf("have: low %d blocks %v", m.block, got)
	}
	// Any single-bit flip is caught by the CRC (or makes the message
	// unparseable).
	for _, b := range s {
		for i := 0; i < 8*len(b); i++ {
			c := bytes.Clone(b)
			c[i/8] ^= 1 << (i % 8)
			if _, err := parseMessage(c); err == nil {
				t.Fatalf("type %d: bit %d flipped and accepted", b[0], i)
			}
		}
	}
	// Bounds.
	bad := [][]byte{
		nil, {1}, seal([]byte{42, 0}), seal([]byte{msgRequest, 255, 0, 1, 0, 0, 0, 1}),
		appendRequest(nil, 1, 5000, 0, 1), appendRequest(nil, 1, 1, 0, 0),
		appendManifest(nil, 1, 0, 1<<30, []byte{1}),
		appendAnnounce(nil, 1, 0, 1, 10, 11, fileID{}, "x"),
		appendAnnounce(nil, 1, 0, 1, 10, 1, fileID{}, "../x"),
		appendAnnounce(nil, 1, flagTombstone, 1, 10, 1, fileID{}, "x"),
		appendBitfield(nil, 1, 3, []byte{1}),
	}
	for i, b := range bad {
		if _, err := parseMessage(b); err == nil {
			t.Errorf("bad message %d (% x) accepted", i, b)
		}
	}
	if _, err := parseMessage(seal([]byte{42, 0})); !errors.Is(err, errUnknown) {
		t.Errorf("unknown type: %v", err)
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			return
		}
		// Whatever parses keeps every field within the format's limits.
		if m.typ != msgSync && m.handle > maxHandle {
			t.Fatalf("handle %d", m.handle)
		}
		if m.typ == msgManifest && int(m.offset)+len(m.data) > int(m.total) {
			t.Fatalf("manifest segment past its total")
		}
		m.haveBlocks(func(int) {})
	})
}
