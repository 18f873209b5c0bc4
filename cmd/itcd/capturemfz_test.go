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
