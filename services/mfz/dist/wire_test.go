package dist

import (
	"bytes"
	"errors"
	"math/rand"
	"reflect"
	"slices"
	"testing"

	"github.com/t2tiles/itcd/services/mfz"
)

func seeds() [][]byte {
	id := fileID{1, 2, 3, 4, 5, 6, 7, 8}
	return [][]byte{
		appendAnnounce(nil, 3, flagComplete, 1700000000000000000, 128, 128, id, "physics.mfz"),
		appendAnnounce(nil, 4, flagTombstone|flagComplete, 5, 0, 0, id, "gone.mfz"),
		appendGetManifest(nil, 3, 486, 0),
		appendManifest(nil, 3, 243, 4300, bytes.Repeat([]byte{0xAB}, manifestSeg)),
		appendBitfield(nil, 3, 8, []byte{0xFF, 0x0F}),
		appendHave(nil, 3, 7, []int{7, 9, 100}),
		appendRequest(nil, 3, 12, 0, 34),
		appendData(nil, 3, 12, 33, bytes.Repeat([]byte{1}, ChunkLen)),
		appendChunk(nil, 3, 4095, 15, bytes.Repeat([]byte{2}, ChunkLen), true),
		(&requestsMsg{seq: 9, list: appendRequestEntry(nil, requestMsg{handle: 3, block: 4095, chunk: 3, count: 6, short: true})}).append(nil),
		appendNotHave(nil, 3, 12),
		appendNotHave(nil, 3, blockGone),
		appendSync(nil, 0),
		appendGetManifest(nil, 3, 482, 2),
		(&requestsMsg{seq: 65535, list: appendRequestEntry(appendRequestEntry(nil, requestMsg{handle: 3, block: 12, chunk: 16, count: 1}), requestMsg{handle: 3, block: 12, count: 17})}).append(nil),
	}
}

func TestCRC16CheckValue(t *testing.T) {
	if c := crc16([]byte("123456789")); c != 0x29B1 {
		t.Fatalf("CRC-16/CCITT-FALSE of 123456789 = %#04x, want 0x29b1", c)
	}
}

// TestCRC16Slicing checks the eight-byte steps against the definition,
// a bit at a time, at every length a message can have and every offset
// of the tail.
func TestCRC16Slicing(t *testing.T) {
	bitwise := func(b []byte) uint16 {
		c := uint16(0xFFFF)
		for _, x := range b {
			c ^= uint16(x) << 8
			for range 8 {
				if c&0x8000 != 0 {
					c = c<<1 ^ 0x1021
				} else {
					c <<= 1
				}
			}
		}
		return c
	}
	rng := rand.New(rand.NewSource(1))
	b := make([]byte, 300)
	for n := 0; n <= len(b); n++ {
		rng.Read(b[:n])
		if got, want := crc16(b[:n]), bitwise(b[:n]); got != want {
			t.Fatalf("crc16 of %d bytes = %#04x, bit by bit %#04x", n, got, want)
		}
	}
}

func BenchmarkCRC16(b *testing.B) {
	p := make([]byte, 253)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		crc16(p)
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
	if a := m.announce; m.typ != msgAnnounce || a.handle != 3 || a.version != 1700000000000000000 || a.blocks != 128 || a.held != 128 ||
		a.fid != (fileID{1, 2, 3, 4, 5, 6, 7, 8}) || a.name != "physics.mfz" || a.flags != flagComplete {
		t.Errorf("announce: %+v", m)
	}
	m, _ = parseMessage(s[6])
	if r := m.request; m.typ != msgRequest || r.block != 12 || r.chunk != 0 || r.count != 34 {
		t.Errorf("request: %+v", m)
	}
	m, _ = parseMessage(s[7])
	if d := m.data; m.typ != msgData || d.block != 12 || d.chunk != 33 || len(d.data) != ChunkLen {
		t.Errorf("data: %+v", m)
	}
	if len(s[7]) != maxMsg {
		t.Errorf("a full DATA message is %d bytes, want %d", len(s[7]), maxMsg)
	}
	m, _ = parseMessage(s[8])
	if d := m.data; m.typ != msgShortData || !d.short || d.block != 4095 || d.chunk != 15 || len(d.data) != ChunkLen || len(s[8]) != maxMsg-2 {
		t.Errorf("short data of %d bytes: %+v", len(s[8]), m)
	}
	m, _ = parseMessage(s[9])
	if rs := entriesOf(&m.requests); len(rs) != 1 || rs[0] != (requestMsg{handle: 3, block: 4095, chunk: 3, count: 6, short: true}) {
		t.Errorf("an entry flagged short: %+v", rs)
	}
	// A SHORT DATA names only chunks 0..15: a DATA goes for the rest, and
	// for a mark's answer.
	if b := appendChunk(nil, 3, 1, 16, []byte{1}, true); b[0] != msgData {
		t.Errorf("chunk 16 sent as type %d", b[0])
	}
	if b := appendChunk(nil, 3, 1, 2, nil, true); b[0] != msgData {
		t.Errorf("a mark's answer sent as type %d", b[0])
	}
	m, _ = parseMessage(s[len(s)-1])
	var rs []requestMsg
	var seqs []uint16
	m.requests.entries(func(seq uint16, r requestMsg) { seqs, rs = append(seqs, seq), append(rs, r) })
	if m.typ != msgRequests || len(s[len(s)-1]) != 3+2*requestEntryLen+crcLen ||
		!slices.Equal(seqs, []uint16{65534, 65535}) || !slices.Equal(rs, []requestMsg{{handle: 3, block: 12, count: 17}, {handle: 3, block: 12, chunk: 16, count: 1}}) {
		t.Errorf("requests: numbers %v entries %+v, want the older first", seqs, rs)
	}
	m, _ = parseMessage(s[len(s)-2])
	if g := m.getManifest; m.typ != msgGetManifest || g.offset != 482 || g.count != 2 {
		t.Errorf("counted get manifest: %+v", m)
	}
	if len(s[len(s)-2]) != 10 {
		t.Errorf("counted get manifest of %d bytes", len(s[len(s)-2]))
	}
	m, _ = parseMessage(s[2])
	if g := m.getManifest; m.typ != msgGetManifest || g.offset != 486 || g.count != 0 || len(s[2]) != 8 {
		t.Errorf("get manifest to the end: %+v", m)
	}
	m, _ = parseMessage(s[5])
	var got []int
	m.have.blocks(func(b int) { got = append(got, b) })
	if m.have.low != 7 || len(got) != 3 || got[2] != 100 {
		t.Errorf("have: low %d blocks %v", m.have.low, got)
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
		seal([]byte{msgGetManifest, 1, 0, 0, 0, 0, 0, 0}),                // a count of 0 segments
		appendGetManifest(nil, 1, 0, maxManifestSegs+1),                  // more segments than a manifest has
		seal([]byte{msgGetManifest, 1, 0, 0, 0, 0, 1}),                   // a count cut short
		seal([]byte{msgGetManifest, 1, 0, 0, 0, 0, 0, 1, 0}),             // a byte past the count
		seal([]byte{msgRequests, 0, 1}),                                  // REQUESTS with no entry
		seal([]byte{msgRequests, 0, 1, 3, 0, 1, 0, 0, 0}),                // an entry cut short
		seal([]byte{msgRequests, 0, 1, 255, 0, 1, 0, 0, 0, 1}),           // an entry's handle out of range
		seal([]byte{msgRequests, 0, 1, 3, 0, 1, 0xFF, 0xFF, 0, 0}),       // a mark past the chunks a block has
		seal([]byte{msgRequests, 0, 1, 3, 0x10, 0, 0, 0, 0, 1}),          // block 4096
		seal([]byte{msgRequests, 0, 1, 3, 0xFF, 0xFF, 0x02, 0x21, 0, 1}), // a manifest ask from segment 545
		seal([]byte{msgRequests, 0, 1, 3, 0xFF, 0xFF, 0, 0, 0x02, 0x22}), // a manifest ask of 546 segments
		seal([]byte{msgRequests, 0, 1, 3, 0xFF, 0xFF, 0, 0, 0, 0}),       // a manifest ask of none
		seal([]byte{msgRequests, 0, 1, 3, 0, 1, 0, 2, 0x80, 0}),          // a mark flagged short
		seal([]byte{msgRequests, 0, 1, 3, 0xFF, 0xFF, 0, 0, 0x80, 1}),    // a manifest ask flagged short
		seal([]byte{msgRequest, 3, 0, 1, 0, 0, 0x80, 1}),                 // a REQUEST has no flag
		seal([]byte{msgShortData, 3, 0, 1}),                              // a SHORT DATA without bytes
		(&requestsMsg{seq: 1, list: bytes.Repeat(appendRequestEntry(nil, requestMsg{handle: 1, count: 1}), maxRequestEntries+1)}).append(nil),
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
		if m.typ != msgSync && m.export().Handle > maxHandle {
			t.Fatalf("handle %d", m.export().Handle)
		}
		if k := m.manifest; m.typ == msgManifest && int(k.offset)+len(k.data) > int(k.total) {
			t.Fatalf("manifest segment past its total")
		}
		m.have.blocks(func(int) {})
		if d := m.data; m.typ == msgShortData && (d.chunk >= maxShortChunk || d.block >= mfz.MaxBlocks || len(d.data) == 0) {
			t.Fatalf("SHORT DATA block %d chunk %d of %d bytes", d.block, d.chunk, len(d.data))
		}
	})
}

// Each kind's append and parse are inverse: a message made of the kind's
// fields parses back to the same fields, under the same type.
func TestKindsRoundTrip(t *testing.T) {
	id := fileID{8, 7, 6, 5, 4, 3, 2, 1}
	seg := bytes.Repeat([]byte{0xCD}, manifestSeg)
	for _, c := range []struct {
		name string
		m    msg
	}{
		{"announce", msg{typ: msgAnnounce, announce: announceMsg{handle: 254, flags: flagComplete, version: -3, blocks: 4096, held: 17, fid: id, name: "a-b_c+1.mfz"}}},
		{"tombstone", msg{typ: msgAnnounce, announce: announceMsg{handle: 0, flags: flagTombstone | flagComplete, version: 1 << 62, fid: id, name: "x.mfz"}}},
		{"get manifest", msg{typ: msgGetManifest, getManifest: getManifestMsg{handle: 9, offset: mfz.MaxSignedManifestLen - 1}}},
		{"get manifest segments", msg{typ: msgGetManifest, getManifest: getManifestMsg{handle: 9, offset: 482, count: maxManifestSegs}}},
		{"manifest", msg{typ: msgManifest, manifest: manifestMsg{handle: 9, offset: 243, total: 4300, data: seg}}},
		{"manifest end", msg{typ: msgManifest, manifest: manifestMsg{handle: 9, offset: 4299, total: 4300, data: seg[:1]}}},
		{"bitfield", msg{typ: msgBitfield, bitfield: bitfieldMsg{handle: 1, first: 4088, bits: []byte{0xFF}}}},
		{"have", msg{typ: msgHave, have: haveMsg{handle: 2, low: 4096, list: []byte{0, 1, 0x0F, 0xFF}}}},
		{"have none", msg{typ: msgHave, have: haveMsg{handle: 2, low: 3, list: []byte{}}}},
		{"request", msg{typ: msgRequest, request: requestMsg{handle: 3, block: 4095, chunk: 1, count: maxChunks - 1}}},
		{"data", msg{typ: msgData, data: dataMsg{handle: 4, block: 0, chunk: maxChunks - 1, data: seg[:1]}}},
		{"nothave", msg{typ: msgNotHave, notHave: notHaveMsg{handle: 5, block: 4095}}},
		{"nothave gone", msg{typ: msgNotHave, notHave: notHaveMsg{handle: 5, block: blockGone}}},
		{"sync", msg{typ: msgSync, sync: syncMsg{flags: 0xA5}}},
		{"requests", msg{typ: msgRequests, requests: requestsMsg{seq: 0xBEEF, list: bytes.Repeat([]byte{254, 0x0F, 0xFF, 0, 1, 0, 16}, maxRequestEntries)}}},
		{"mark", msg{typ: msgRequests, requests: requestsMsg{seq: 7, list: []byte{3, 0x0F, 0xFF, 0, 16, 0, 0}}}},
		{"mark's answer", msg{typ: msgData, data: dataMsg{handle: 4, block: 4095, chunk: 16, data: []byte{}}}},
		{"short data", msg{typ: msgShortData, data: dataMsg{handle: 254, block: 4095, chunk: 15, data: bytes.Repeat([]byte{0xCE}, ChunkLen), short: true}}},
		{"short data first", msg{typ: msgShortData, data: dataMsg{handle: 0, block: 0, chunk: 0, data: seg[:1], short: true}}},
		{"short entry", msg{typ: msgRequests, requests: requestsMsg{seq: 3, list: []byte{3, 0x0F, 0xFF, 0, 15, 0x80, 1}}}},
		{"manifest ask", msg{typ: msgRequests, requests: requestsMsg{seq: 0, list: []byte{9, 0xFF, 0xFF, 0x02, 0x20, 0x02, 0x21}}}},
	} {
		b := c.m.append([]byte{0xEE})[1:]
		if len(b) > maxMsg {
			t.Errorf("%s: %d bytes, more than a packet", c.name, len(b))
		}
		got, err := parseMessage(b)
		if err != nil {
			t.Errorf("%s: parse: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(got, c.m) {
			t.Errorf("%s: parsed %+v, want %+v", c.name, got, c.m)
		}
		if x := got.export(); !bytes.Equal(AppendMessage(nil, &x), b) {
			t.Errorf("%s: the kit's form writes other bytes", c.name)
		}
	}
}

// FuzzWireRoundTrip: every sealed body that parseMessage takes is written
// back byte for byte by its kind's append (msg.append), and the kit's form
// of it (export, AppendMessage) writes the same bytes.
func FuzzWireRoundTrip(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s[:len(s)-crcLen])
	}
	f.Add([]byte{msgSync, 0xFF})              // SYNC with flags
	f.Add([]byte{msgHave, 3, 0x10, 0})        // HAVE with an empty list
	f.Add([]byte{msgManifest, 1, 0, 0, 0, 9}) // MANIFEST cut short
	f.Add([]byte{msgBitfield, 2, 0x0F, 0xF8, 1})
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body)+crcLen > maxMsg {
			return
		}
		b := seal(bytes.Clone(body))
		m, err := parseMessage(b)
		if err != nil {
			return
		}
		if out := m.append(nil); !bytes.Equal(out, b) {
			t.Fatalf("append(parse(% x)) = % x", b, out)
		}
		x := m.export()
		if out := AppendMessage(nil, &x); !bytes.Equal(out, b) {
			t.Fatalf("AppendMessage(export(parse(% x))) = % x", b, out)
		}
	})
}
