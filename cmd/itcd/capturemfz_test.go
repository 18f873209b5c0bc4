package main

import (
	"encoding/binary"
	"testing"

	"github.com/t2tiles/itcd/services/mfz/dist"
)

// TestCaptureDissectorGetManifest reads both forms of GET_MANIFEST: to
// the end (the short form every sender serves) and a count of segments
// (a re-ask of lost ones), and one with a count of 0, which no tile sends.
func TestCaptureDissectorGetManifest(t *testing.T) {
	needTshark(t)
	mfzPacket := func(m dist.Message) []byte {
		return dist.AppendMessage([]byte{0x82, 8}, &m)
	}
	// A count of 0 under a good CRC: [2][handle][offset][count 0].
	body := []byte{2, 3, 0, 0, 1, 0xe2, 0, 0}
	zeroSegs := binary.BigEndian.AppendUint16(append([]byte{0x82, 8}, body...), crc16(body))
	id := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	checkDissected(t, []dissectCase{
		{"announce, counted asks served", mfzPacket(dist.Message{Type: dist.MsgAnnounce, Handle: 3, Flags: 5, Version: 9, Blocks: 4, Held: 4, ID: id, Name: "a.mfz"}),
			map[string]string{"itc.mfz.type": "1", "itc.mfz.flags.complete": "1", "itc.mfz.flags.counted": "1", "itc.malformed": ""}},
		{"announce of a tile before them", mfzPacket(dist.Message{Type: dist.MsgAnnounce, Handle: 3, Flags: 1, Version: 9, Blocks: 4, Held: 4, ID: id, Name: "a.mfz"}),
			map[string]string{"itc.mfz.type": "1", "itc.mfz.flags.counted": "0", "itc.malformed": ""}},
		{"to the end", mfzPacket(dist.Message{Type: dist.MsgGetManifest, Handle: 3, Offset: 964}),
			map[string]string{"itc.service": "8", "itc.mfz.type": "2", "itc.mfz.offset": "964", "itc.mfz.segments": "",
				"itc.mfz.crc.good": "1", "itc.malformed": ""}},
		{"two segments", mfzPacket(dist.Message{Type: dist.MsgGetManifest, Handle: 3, Offset: 482, Count: 2}),
			map[string]string{"itc.service": "8", "itc.mfz.type": "2", "itc.mfz.offset": "482", "itc.mfz.segments": "2",
				"itc.mfz.crc.good": "1", "itc.malformed": ""}},
		{"no segments", zeroSegs,
			map[string]string{"itc.mfz.type": "2", "itc.mfz.segments": "0", "itc.mfz.crc.good": "1", "itc.malformed": "1"}},
	})
}

// TestCaptureDissectorRequests reads numbered requests: the number, each
// request carried (newest first), a mark (an entry of 0 chunks) and flags
// bits 3 and 4 of an ANNOUNCE; a REQUESTS with no request is malformed.
func TestCaptureDissectorRequests(t *testing.T) {
	needTshark(t)
	mfzPacket := func(m dist.Message) []byte {
		return dist.AppendMessage([]byte{0x82, 8}, &m)
	}
	entry := func(h byte, block, chunk, count uint16) []byte {
		b := binary.BigEndian.AppendUint16([]byte{h}, block)
		b = binary.BigEndian.AppendUint16(b, chunk)
		return binary.BigEndian.AppendUint16(b, count)
	}
	two := append(entry(3, 12, 16, 1), entry(3, 12, 0, 17)...)
	id := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	checkDissected(t, []dissectCase{
		{"announce, numbered requests taken", mfzPacket(dist.Message{Type: dist.MsgAnnounce, Handle: 3, Flags: 13, Version: 9, Blocks: 4, Held: 4, ID: id, Name: "a.mfz"}),
			map[string]string{"itc.mfz.type": "1", "itc.mfz.flags.requests": "1", "itc.malformed": ""}},
		{"two requests", mfzPacket(dist.Message{Type: dist.MsgRequests, Seq: 300, Data: two}),
			map[string]string{"itc.mfz.type": "10", "itc.mfz.seq": "300", "itc.mfz.entries": "2", "itc.mfz.block": "12,12",
				"itc.mfz.chunk": "16,0", "itc.mfz.count": "1,17", "itc.mfz.crc.good": "1", "itc.malformed": ""}},
		{"a manifest ask", mfzPacket(dist.Message{Type: dist.MsgRequests, Seq: 2, Data: entry(3, 0xFFFF, 0, 545)}),
			map[string]string{"itc.mfz.type": "10", "itc.mfz.block": "65535", "itc.mfz.count": "545", "itc.malformed": ""}},
		{"a manifest ask past its segments", mfzPacket(dist.Message{Type: dist.MsgRequests, Seq: 3, Data: entry(3, 0xFFFF, 545, 1)}),
			map[string]string{"itc.mfz.type": "10", "itc.malformed": "1"}},
		{"no request", mfzPacket(dist.Message{Type: dist.MsgRequests, Seq: 1}),
			map[string]string{"itc.mfz.type": "10", "itc.malformed": "1"}},
		{"a mark", mfzPacket(dist.Message{Type: dist.MsgRequests, Seq: 1, Data: entry(3, 1, 16, 0)}),
			map[string]string{"itc.mfz.type": "10", "itc.mfz.count": "0", "itc.mfz.chunk": "16", "itc.malformed": ""}},
		{"a mark's answer", mfzPacket(dist.Message{Type: dist.MsgData, Handle: 3, Block: 12, Chunk: 16}),
			map[string]string{"itc.mfz.type": "7", "itc.mfz.chunk": "16", "itc.mfz.data": "", "itc.malformed": ""}},
		{"a mark of block 4096", mfzPacket(dist.Message{Type: dist.MsgRequests, Seq: 1, Data: entry(3, 4096, 0, 0)}),
			map[string]string{"itc.mfz.type": "10", "itc.malformed": "1"}},
		{"announce, marks answered", mfzPacket(dist.Message{Type: dist.MsgAnnounce, Handle: 3, Flags: 0x1d, Version: 9, Blocks: 4, Held: 4, ID: id, Name: "a.mfz"}),
			map[string]string{"itc.mfz.type": "1", "itc.mfz.flags.marks": "1", "itc.mfz.flags.short": "0", "itc.malformed": ""}},
		{"announce, SHORT DATA served", mfzPacket(dist.Message{Type: dist.MsgAnnounce, Handle: 3, Flags: 0x3d, Version: 9, Blocks: 4, Held: 4, ID: id, Name: "a.mfz"}),
			map[string]string{"itc.mfz.type": "1", "itc.mfz.flags.short": "1", "itc.malformed": ""}},
		{"a request flagged short", mfzPacket(dist.Message{Type: dist.MsgRequests, Seq: 1, Data: entry(3, 12, 0, 0x8009)}),
			map[string]string{"itc.mfz.type": "10", "itc.mfz.count": "9", "itc.mfz.short": "1", "itc.malformed": ""}},
		{"a mark flagged short", mfzPacket(dist.Message{Type: dist.MsgRequests, Seq: 1, Data: entry(3, 12, 4, 0x8000)}),
			map[string]string{"itc.mfz.type": "10", "itc.malformed": "1"}},
		{"a SHORT DATA", mfzPacket(dist.Message{Type: dist.MsgShortData, Handle: 3, Block: 4095, Chunk: 15, Data: []byte{1, 2, 3}}),
			map[string]string{"itc.mfz.type": "11", "itc.mfz.block": "4095", "itc.mfz.chunk": "15", "itc.mfz.crc.good": "1", "itc.malformed": ""}},
	})
}

// TestCaptureDissectorHave reads a HAVE: the low mark and the blocks
// listed; a block past the last a file may have is malformed.
func TestCaptureDissectorHave(t *testing.T) {
	needTshark(t)
	have := func(low uint16, blocks ...uint16) []byte {
		var list []byte
		for _, b := range blocks {
			list = binary.BigEndian.AppendUint16(list, b)
		}
		return dist.AppendMessage([]byte{0x82, 8}, &dist.Message{Type: dist.MsgHave, Handle: 3, Block: low, Data: list})
	}
	checkDissected(t, []dissectCase{
		{"two blocks", have(4, 5, 7),
			map[string]string{"itc.service": "8", "itc.mfz.type": "5", "itc.mfz.low": "4", "itc.mfz.block": "5,7",
				"itc.mfz.crc.good": "1", "itc.malformed": ""}},
		{"only the low mark", have(12),
			map[string]string{"itc.mfz.type": "5", "itc.mfz.low": "12", "itc.mfz.block": "", "itc.malformed": ""}},
		{"block 4096", have(0, 4096),
			map[string]string{"itc.mfz.type": "5", "itc.malformed": "1"}},
	})
}
