package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	mrand "math/rand"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/sim/tilegrid/gridtest"
	"github.com/t2tiles/itcd/tube/tubetest"
)

// TestCaptureTubeTshark moves a few KB each way through a tube across a
// 2x1 grid, captures both tiles, and reads the captures with tshark and
// the dissector: OPEN with the ports and kind the programs were told,
// ACCEPT, DATA covering both streams with the FIN on the last segment,
// ACKs, and every CRC-32C good.
func TestCaptureTubeTshark(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a grid")
	}
	needTshark(t)
	dir := t.TempDir()
	cfg := tilegrid.DefaultConfig(2, 1)
	cfg.Dir = filepath.Join(dir, "grid")
	cfg.Profile = dev.LinkProfile{Rate: 256 << 10}
	cfg.Seed = 7
	g := gridtest.Start(t, cfg)
	a, b := g.Tile(tilegrid.Coord{X: 0}), g.Tile(tilegrid.Coord{X: 1})
	capDir := filepath.Join(dir, "cap")
	var capErr bytes.Buffer
	sc, err := startSimCaptures(g, capDir, &capErr)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.stop()

	acc := tubetest.DialRaw(t, b.RunDir, "accept 7")
	op := tubetest.DialRaw(t, a.RunDir, "open ET 7")
	op.FrameSize, acc.FrameSize = 1024, 1024
	opOK, accOK := op.Reply(), acc.Reply()
	// "ok ID DIR TILE LOCALPORT REMOTEPORT KIND WINDOW"
	of, af := strings.Fields(opOK), strings.Fields(accOK)
	if len(of) != 8 || of[0] != "ok" || len(af) != 8 || af[0] != "ok" {
		t.Fatalf("open %q, accept %q", opOK, accOK)
	}
	ab, ba := tubeBytes(5000, 1), tubeBytes(3000, 2)
	var wg sync.WaitGroup
	var gotB []byte
	var finalB string
	wg.Add(1)
	go func() { defer wg.Done(); gotB, finalB = acc.Pump(ba, 30*time.Second) }()
	gotA, finalA := op.Pump(ab, 30*time.Second)
	wg.Wait()
	if finalA != "c" || finalB != "c" || !bytes.Equal(gotB, ab) || !bytes.Equal(gotA, ba) {
		t.Fatalf("finals %q %q; B got %d of %d bytes, A got %d of %d", finalA, finalB, len(gotB), len(ab), len(gotA), len(ba))
	}
	if !sc.stop() {
		t.Fatalf("captures failed: %s", capErr.String())
	}

	fields := []string{"itc.capture.travel", "itc.service", "itc.tube.type", "itc.tube.id", "itc.tube.src_port",
		"itc.tube.dst_port", "itc.tube.kind", "itc.tube.seq", "itc.tube.len", "itc.tube.flags.fin", "itc.tube.ack",
		"itc.tube.crc.good", "itc.tube.from", "itc.tube.window"}
	// checkTile reads one tile's capture: out is the stream that tile
	// sent (travel 1), in the one it received (travel 0).
	checkTile := func(tile string, openTravel string, sent, recvd int) {
		rows := fieldRows(t, filepath.Join(capDir, tile+".pcapng"), fields...)
		types := map[string]int{}
		data := map[string][][2]int{} // travel: [seq, len] of each DATA
		fin := map[string]int{}       // travel: seq+len of the FIN
		for _, r := range rows {
			if len(r) != len(fields) {
				t.Fatalf("%s: row %q", tile, r)
			}
			travel, svc, typ, id, sport, dport, kind, seq, n, finFlag, ack, crc, from, win :=
				r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13]
			if svc != "9" {
				continue
			}
			types[typ]++
			if crc != "1" && crc != "True" {
				t.Errorf("%s: tube message type %s with crc.good %q", tile, typ, crc)
			}
			switch typ {
			case "1": // OPEN: the opener's id and ports, as its program was told
				if travel != openTravel || id != of[1] || sport != of[4] || dport != "7" || kind != "1" || win == "" {
					t.Errorf("%s: OPEN travel %s id %s ports %s->%s kind %s window %q; want travel %s id %s ports %s->7 kind 1",
						tile, travel, id, sport, dport, kind, win, openTravel, of[1], of[4])
				}
			case "2": // ACCEPT: to the opener's id, from the acceptor's
				if id != of[1] || from != af[1] {
					t.Errorf("%s: ACCEPT id %s from %s; want %s from %s", tile, id, from, of[1], af[1])
				}
			case "3":
				s, err1 := strconv.Atoi(seq)
				l, err2 := strconv.Atoi(n)
				if err1 != nil || err2 != nil {
					t.Fatalf("%s: DATA seq %q len %q", tile, seq, n)
				}
				data[travel] = append(data[travel], [2]int{s, l})
				if finFlag == "1" {
					fin[travel] = s + l
				}
			case "4":
				if ack == "" {
					t.Errorf("%s: ACK without itc.tube.ack", tile)
				}
			}
		}
		for _, m := range []string{"1", "2", "3", "4"} {
			if types[m] == 0 {
				t.Errorf("%s: no tube message of type %s (saw %v)", tile, m, types)
			}
		}
		for travel, total := range map[string]int{"1": sent, "0": recvd} {
			if end := coverage(data[travel]); end != total {
				t.Errorf("%s: DATA of travel %s covers 0..%d contiguously, want 0..%d: %v", tile, travel, end, total, data[travel])
			}
			if f, ok := fin[travel]; !ok || f != total {
				t.Errorf("%s: FIN of travel %s ends at %d (seen %v), want %d", tile, travel, f, ok, total)
			}
		}
	}
	checkTile("t-0-0", "1", len(ab), len(ba))
	checkTile("t-1-0", "0", len(ba), len(ab))
}

// coverage returns where the contiguous run of DATA segments from
// sequence number 0 ends (retransmissions overlap, and count once).
func coverage(segs [][2]int) int {
	sort.Slice(segs, func(i, j int) bool { return segs[i][0] < segs[j][0] })
	end := 0
	for _, s := range segs {
		if s[0] > end {
			break
		}
		end = max(end, s[0]+s[1])
	}
	return end
}

func tubeBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	mrand.New(mrand.NewSource(seed)).Read(b)
	return b
}

// tubePacket is a routed service 9 packet of ET holding body and its
// CRC-32C, or a CRC one off when bad.
func tubePacket(bad bool, body ...[]byte) []byte {
	var m []byte
	for _, b := range body {
		m = append(m, b...)
	}
	c := crc32.Checksum(m, crc32.MakeTable(crc32.Castagnoli))
	if bad {
		c++
	}
	return binary.BigEndian.AppendUint32(append([]byte{0x82, 9}, m...), c)
}

// tubeFuzzPacket is a random tube message for TestCaptureDissectorFuzz:
// any type (0 and 8 undefined, 7 ROUTED), a body near its type's length
// or up to a whole packet, an ACK's range count near the limit of 4.
func tubeFuzzPacket(rng *mrand.Rand, bad bool) []byte {
	n := rng.Intn(24)
	if rng.Intn(4) == 0 {
		n = rng.Intn(250 - 2 - 4)
	}
	m := make([]byte, 1+n)
	rng.Read(m)
	m[0] = byte(rng.Intn(9))
	if m[0] == 4 && n >= 15 {
		m[15] = byte(rng.Intn(7))
	}
	return tubePacket(bad, m)
}

// tsBool reads a boolean field as tshark 4.0 prints it ("1", "0"),
// whichever way this tshark prints it.
func tsBool(v string) string {
	switch v {
	case "True":
		return "1"
	case "False":
		return "0"
	}
	return v
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// TestCaptureDissectorTubeMessages reads one made-up packet of every tube
// message, and damaged ones, and checks each field the dissector shows.
func TestCaptureDissectorTubeMessages(t *testing.T) {
	needTshark(t)
	b := func(v ...byte) []byte { return v }
	// Each case: field: value; "" for none; experts read "1".
	cases := []dissectCase{
		{"OPEN", tubePacket(false, b(1), be16(0x1234), be16(1000), be16(7), b(2), be32(4096)),
			map[string]string{"itc.tube.type": "1", "itc.tube.id": "4660", "itc.tube.src_port": "1000", "itc.tube.dst_port": "7",
				"itc.tube.kind": "2", "itc.tube.window": "4096", "itc.tube.crc.good": "1", "itc.malformed": ""}},
		{"ACCEPT", tubePacket(false, b(2), be16(4660), be16(99), be32(8192)),
			map[string]string{"itc.tube.type": "2", "itc.tube.id": "4660", "itc.tube.from": "99", "itc.tube.window": "8192", "itc.malformed": ""}},
		{"DATA FIN", tubePacket(false, b(3), be16(99), be32(4294967000), b(1), []byte("hello")),
			map[string]string{"itc.tube.type": "3", "itc.tube.seq": "4294967000", "itc.tube.len": "5", "itc.tube.flags.fin": "1",
				"itc.tube.data": "68656c6c6f", "itc.tube.crc.good": "1", "itc.malformed": ""}},
		{"DATA", tubePacket(false, b(3), be16(99), be32(241), b(0)),
			map[string]string{"itc.tube.seq": "241", "itc.tube.len": "0", "itc.tube.flags.fin": "0", "itc.malformed": ""}},
		{"ACK", tubePacket(false, b(4), be16(99), be32(10), be32(5), be32(100), b(2), be32(20), be32(30), be32(40), be32(50)),
			map[string]string{"itc.tube.type": "4", "itc.tube.ack": "10", "itc.tube.read": "5", "itc.tube.limit": "100", "itc.tube.sacks": "2",
				"itc.tube.sack.start": "20,40", "itc.tube.sack.end": "30,50", "itc.malformed": ""}},
		{"RESET", tubePacket(false, b(5), be16(99), b(5), []byte("by\x00e\xff")),
			map[string]string{"itc.tube.type": "5", "itc.tube.reset_code": "5", "itc.tube.reason": "by?e?", "itc.malformed": "", "_ws.expert.message": ""}},
		{"CANCEL", tubePacket(false, b(6), be16(4660)),
			map[string]string{"itc.tube.type": "6", "itc.tube.id": "4660", "itc.tube.crc.good": "1", "itc.malformed": ""}},
		{"OPEN of a later version", tubePacket(false, b(1), be16(1), be16(2), be16(3), b(1), be32(5), b(0xAA, 0xBB)),
			map[string]string{"itc.tube.dst_port": "3", "itc.tube.extra": "aabb", "itc.malformed": ""}},
		{"bad CRC", tubePacket(true, b(3), be16(99), be32(7), b(0), []byte("x")),
			map[string]string{"itc.tube.seq": "7", "itc.tube.crc.good": "0", "itc.tube.bad_crc": "1", "_ws.expert.message": "CRC-32C mismatch: the receiver drops this message as lost"}},
		{"ACK of 5 ranges", tubePacket(false, b(4), be16(99), be32(1), be32(1), be32(1), b(5), make([]byte, 40)),
			map[string]string{"itc.tube.ack": "1", "itc.tube.sack.start": "", "itc.malformed": "1", "_ws.expert.message": "ACK with 5 SACK ranges, at most 4"}},
		{"ACK short of its ranges", tubePacket(false, b(4), be16(99), be32(1), be32(1), be32(1), b(2), be32(3), be32(4)),
			map[string]string{"itc.tube.sack.start": "", "itc.malformed": "1", "_ws.expert.message": "ACK with 2 SACK ranges of 24 bytes before the CRC, want 32"}},
		{"short OPEN", tubePacket(false, b(1), be16(1), be16(2)),
			map[string]string{"itc.tube.type": "1", "itc.tube.src_port": "", "itc.malformed": "1", "_ws.expert.message": "OPEN of 5 bytes before the CRC, want 12"}},
		{"too short", []byte{0x82, 9, 6, 0, 1, 0, 0, 0},
			map[string]string{"itc.tube.type": "", "itc.malformed": "1", "_ws.expert.message": "message of 6 bytes, shorter than type, id and CRC (7)"}},
		{"unknown type", tubePacket(false, b(8), be16(1), b(1, 2, 3)),
			map[string]string{"itc.tube.type": "8", "itc.tube.crc.good": "1", "itc.malformed": "", "itc.unknown": "1", "_ws.expert.message": "tube message type 8 is not defined (1..7)"}},
	}
	checkDissected(t, cases)
}
