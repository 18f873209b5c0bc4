package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	mrand "math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/routes"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/sim/tilegrid/gridtest"
)

// The dissector's service 10 (routes) and ROUTED tube messages: read
// from a grid's captures and from packets written here byte by byte.

// svcPacket is a routed packet of ET of service svc holding body and its
// CRC-32C, or a CRC one off when bad.
func svcPacket(svc byte, bad bool, body ...[]byte) []byte {
	p := tubePacket(bad, body...)
	p[1] = svc
	return p
}

func routePacket(bad bool, body ...[]byte) []byte { return svcPacket(10, bad, body...) }

// dissectCase is one packet and the fields the dissector must show for
// it: field: value, "" for none; expert fields read "1".
type dissectCase struct {
	name string
	pkt  []byte
	want map[string]string
}

// checkDissected writes the cases' packets into a capture, outgoing on
// ET, and checks every field each case names.
func checkDissected(t *testing.T, cases []dissectCase) {
	t.Helper()
	var buf bytes.Buffer
	sink, err := newPcapSink(&buf, control.CaptureInfo{Tile: "made", Device: "none"}, "made-up packets", nil)
	if err != nil {
		t.Fatal(err)
	}
	fieldSet := map[string]bool{}
	for i, c := range cases {
		r := control.Record{Type: control.RecordPacket, Travel: control.TravelOut, Link: 2, Time: time.Unix(1_700_000_000, int64(i)), Data: c.pkt}
		if err := sink.packet(r); err != nil {
			t.Fatal(err)
		}
		for f := range c.want {
			fieldSet[f] = true
		}
	}
	var fields []string
	for f := range fieldSet {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	file := filepath.Join(t.TempDir(), "made.pcapng")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rows := fieldRows(t, file, fields...)
	if len(rows) != len(cases) {
		t.Fatalf("%d rows for %d packets", len(rows), len(cases))
	}
	for i, c := range cases {
		if len(rows[i]) != len(fields) {
			t.Fatalf("%s: row %q for fields %q", c.name, rows[i], fields)
		}
		for j, f := range fields {
			if want, ok := c.want[f]; ok && tsBool(rows[i][j]) != want {
				t.Errorf("%s: %s = %q, want %q", c.name, f, rows[i][j], want)
			}
		}
	}
}

// tsHex is the identity id as tshark prints a 64-bit hex field.
func tsHex(id []byte) string { return "0x" + p2p.TileID(id).String() }

// TestCaptureDissectorRouteMessages reads made-up LSAs and ACKs, good
// and damaged, and checks each field the dissector shows.
func TestCaptureDissectorRouteMessages(t *testing.T) {
	needTshark(t)
	b := func(v ...byte) []byte { return v }
	a, c, e := b(1, 2, 3, 4, 5, 6, 7, 8), b(0xa0, 0, 0, 0, 0, 0, 0, 0xa1), b(0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7)
	zero := make([]byte, 8)
	// An LSA ends with the origin's key (32 bytes) and signature (64).
	ks := make([]byte, 96)
	for i := range ks {
		ks[i] = byte(0x40 + i%32)
	}
	sevenLinks := b(7)
	for d := byte(1); d <= 7; d++ {
		sevenLinks = append(append(sevenLinks, d), c...)
	}
	var seventeen []byte
	for range 17 {
		seventeen = append(append(seventeen, a...), be32(1)...)
	}
	none := map[string]string{"itc.malformed": "", "itc.route.bad_crc": "", "_ws.expert.message": ""}
	with := func(m map[string]string) map[string]string {
		for k, v := range none {
			if _, ok := m[k]; !ok {
				m[k] = v
			}
		}
		return m
	}
	checkDissected(t, []dissectCase{
		{"LSA of one link", routePacket(false, b('L'), a, be32(7), b(1, 2), e, ks),
			with(map[string]string{"itc.service": "10", "itc.route.type": "0x4c", "itc.route.origin": tsHex(a), "itc.route.seq": "7",
				"itc.route.pub": fmt.Sprintf("%x", ks[:32]), "itc.route.sig": fmt.Sprintf("%x", ks[32:]),
				"itc.route.links": "1", "itc.route.link.dir": "2", "itc.route.link.tile": tsHex(e), "itc.route.crc.good": "1"})},
		{"LSA of no links", routePacket(false, b('L'), a, be32(1), b(0), ks),
			with(map[string]string{"itc.route.type": "0x4c", "itc.route.links": "0", "itc.route.link.dir": "", "itc.route.crc.good": "1"})},
		{"LSA of three links", routePacket(false, b('L'), e, be32(4294967295), b(3, 6), a, b(1), c, b(7), a, ks),
			with(map[string]string{"itc.route.seq": "4294967295", "itc.route.links": "3", "itc.route.link.dir": "6,1,7",
				"itc.route.link.tile": tsHex(a) + "," + tsHex(c) + "," + tsHex(a)})},
		{"ACK of two", routePacket(false, b('A', 2), a, be32(3), e, be32(9)),
			with(map[string]string{"itc.route.type": "0x41", "itc.route.acks": "2", "itc.route.ack.origin": tsHex(a) + "," + tsHex(e),
				"itc.route.ack.seq": "3,9", "itc.route.crc.good": "1", "itc.route.origin": ""})},
		{"bad CRC", routePacket(true, b('A', 1), a, be32(3)),
			map[string]string{"itc.route.ack.seq": "3", "itc.route.crc.good": "0", "itc.route.bad_crc": "1", "itc.malformed": "",
				"_ws.expert.message": "CRC-32C mismatch: the receiver drops this message as lost"}},
		{"LSA of 7 links", routePacket(false, b('L'), a, be32(1), sevenLinks, ks),
			map[string]string{"itc.route.links": "7", "itc.route.link.dir": "1,2,3,4,5,6,7", "itc.malformed": "1,1",
				"_ws.expert.message": "7 links, at most 6,link direction 4 is not a link (1, 2, 3, 5, 6, 7)"}},
		{"LSA of a link not a link", routePacket(false, b('L'), a, be32(1), b(1, 4), c, ks),
			map[string]string{"itc.route.link.dir": "4", "itc.malformed": "1", "_ws.expert.message": "link direction 4 is not a link (1, 2, 3, 5, 6, 7)"}},
		{"LSA of a link twice", routePacket(false, b('L'), a, be32(1), b(2, 2), c, b(2), e, ks),
			map[string]string{"itc.route.link.dir": "2,2", "itc.malformed": "1", "_ws.expert.message": "link ET listed twice"}},
		{"LSA of the zero origin", routePacket(false, b('L'), zero, be32(1), b(0), ks),
			map[string]string{"itc.malformed": "1", "_ws.expert.message": "origin is the all-zero identity"}},
		{"LSA of a zero neighbour", routePacket(false, b('L'), a, be32(1), b(1, 5), zero, ks),
			map[string]string{"itc.route.link.dir": "5", "itc.malformed": "1", "_ws.expert.message": "the neighbour is the all-zero identity"}},
		{"LSA short of its links", routePacket(false, b('L'), a, be32(1), b(2, 2), c),
			map[string]string{"itc.route.link.dir": "2", "itc.malformed": "1", "_ws.expert.message": "LSA of 2 links is 23 bytes before the CRC, want 128"}},
		{"short LSA", routePacket(false, b('L'), a),
			map[string]string{"itc.route.type": "0x4c", "itc.route.origin": "", "itc.malformed": "1", "_ws.expert.message": "LSA of 9 bytes before the CRC, shorter than 14"}},
		{"ACK of none", routePacket(false, b('A', 0)),
			map[string]string{"itc.route.acks": "0", "itc.malformed": "1", "_ws.expert.message": "ACK of 0 entries (1..16)"}},
		{"ACK of 17", routePacket(false, b('A', 17), seventeen),
			map[string]string{"itc.route.acks": "17", "itc.malformed": "1", "_ws.expert.message": "ACK of 17 entries (1..16)"}},
		{"ACK short of its entries", routePacket(false, b('A', 2), a, be32(3)),
			map[string]string{"itc.route.ack.seq": "3", "itc.malformed": "1", "_ws.expert.message": "ACK of 2 entries is 14 bytes before the CRC, want 26"}},
		{"ACK without a count", routePacket(false, b('A')),
			map[string]string{"itc.malformed": "1", "_ws.expert.message": "ACK without its count"}},
		{"unknown type", routePacket(false, b('X', 1, 2)),
			map[string]string{"itc.route.type": "0x58", "itc.route.crc.good": "1", "itc.malformed": "", "itc.unknown": "1",
				"_ws.expert.message": "route message type 0x58 is not defined ('L' LSA, 'A' ACK)"}},
		{"too short", []byte{0x82, 10, 'A', 0, 0, 0},
			map[string]string{"itc.route.type": "", "itc.malformed": "1", "_ws.expert.message": "message of 4 bytes, shorter than type and CRC (5)"}},
	})
}

// routedInner is a tube message inside ROUTED: type, id and body, and its
// CRC-32C over DST || SRC || those bytes, as the sending tile makes it.
func routedInner(dst, src []byte, msg ...[]byte) []byte {
	var m []byte
	for _, b := range msg {
		m = append(m, b...)
	}
	covered := append(append(append([]byte{}, dst...), src...), m...)
	return binary.BigEndian.AppendUint32(m, crc32.Checksum(covered, crc32.MakeTable(crc32.Castagnoli)))
}

// TestCaptureDissectorRouted reads made-up ROUTED tube messages (service
// 9 type 7), whole and malformed, and checks each field the dissector
// shows.
func TestCaptureDissectorRouted(t *testing.T) {
	needTshark(t)
	b := func(v ...byte) []byte { return v }
	src, dst := b(0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58), b(0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8)
	data := routedInner(dst, src, b(3), be16(99), be32(1000), b(0), []byte("hi!"))
	crc := "0x" + strconv.FormatUint(uint64(binary.BigEndian.Uint32(data[len(data)-4:])), 16)
	pkt := func(v ...[]byte) []byte {
		p := []byte{0x82, 9}
		for _, x := range v {
			p = append(p, x...)
		}
		return p
	}
	// 7, N 3, HOP 1, PATH ET ET SE (0x22 0x30), SRC, a DATA.
	good := map[string]string{"itc.service": "9", "itc.tube.type": "7,3", "itc.tube.routed.len": "3", "itc.tube.routed.hop": "1",
		"itc.tube.routed.path": "ET,[ET],SE", "itc.tube.routed.next": "2", "itc.tube.routed.src": tsHex(src), "itc.tube.id": "99",
		"itc.tube.seq": "1000", "itc.tube.len": "3", "itc.tube.data": "686921", "itc.tube.routed.crc": crc,
		"itc.tube.crc.good": "", "itc.tube.bad_crc": "", "itc.malformed": "", "_ws.expert.message": ""}
	var path32 []byte
	for range 16 {
		path32 = append(path32, 0x67)
	}
	cancel := routedInner(dst, src, b(6), be16(5))
	checkDissected(t, []dissectCase{
		{"DATA on its second link", pkt(b(7, 3, 1, 0x22, 0x30), src, data), good},
		{"at the destination", pkt(b(7, 3, 3, 0x22, 0x30), src, data),
			map[string]string{"itc.tube.routed.hop": "3", "itc.tube.routed.path": "ET,ET,SE", "itc.tube.routed.next": "", "itc.tube.seq": "1000",
				"itc.malformed": "", "_ws.expert.message": ""}},
		{"32 links, leaving", pkt(b(7, 32, 0), path32, src, cancel),
			map[string]string{"itc.tube.type": "7,6", "itc.tube.id": "5", "itc.tube.routed.len": "32", "itc.tube.routed.next": "6",
				"itc.tube.routed.path": "[WT]" + strings.Repeat(",NW,WT", 15) + ",NW", "itc.malformed": "", "_ws.expert.message": ""}},
		{"a path of 0 links", pkt(b(7, 0, 0), src, data),
			map[string]string{"itc.tube.routed.len": "0", "itc.tube.routed.src": "", "itc.tube.seq": "", "itc.malformed": "1", "_ws.expert.message": "path of 0 links (1..32)"}},
		{"a path of 33 links", pkt(b(7, 33, 0), path32, b(0x60), src, data),
			map[string]string{"itc.tube.routed.len": "33", "itc.tube.routed.path": "", "itc.malformed": "1", "_ws.expert.message": "path of 33 links (1..32)"}},
		{"hop beyond the path", pkt(b(7, 3, 4, 0x22, 0x30), src, data),
			map[string]string{"itc.tube.routed.hop": "4", "itc.tube.routed.path": "ET,ET,SE", "itc.tube.seq": "1000", "itc.malformed": "1",
				"_ws.expert.message": "hop 4 beyond the path's 3 links"}},
		{"a nibble not a link", pkt(b(7, 3, 0, 0x24, 0x30), src, data),
			map[string]string{"itc.tube.routed.path": "[ET],4,SE", "itc.tube.seq": "1000", "itc.malformed": "1",
				"_ws.expert.message": "path link 2 is 4, not a link (1, 2, 3, 5, 6, 7)"}},
		{"an odd path's last nibble set", pkt(b(7, 3, 2, 0x22, 0x35), src, data),
			map[string]string{"itc.tube.routed.path": "ET,ET,[SE]", "itc.tube.routed.next": "3", "itc.malformed": "1",
				"_ws.expert.message": "an odd path's last low nibble is not 0"}},
		{"the zero SRC", pkt(b(7, 1, 0, 0x10), make([]byte, 8), data),
			map[string]string{"itc.tube.routed.path": "[NE]", "itc.tube.seq": "1000", "itc.malformed": "1", "_ws.expert.message": "SRC is the all-zero identity"}},
		{"short of its header", pkt(b(7, 3, 1, 0x22, 0x30), src[:3]),
			map[string]string{"itc.tube.routed.path": "", "itc.malformed": "1", "_ws.expert.message": "ROUTED of 8 bytes, shorter than its header of a 3-link path (13)"}},
		{"short of its path", pkt(b(7, 5, 1, 0x22)),
			map[string]string{"itc.tube.routed.len": "5", "itc.malformed": "1", "_ws.expert.message": "ROUTED of 4 bytes, shorter than its header of a 5-link path (14)"}},
		{"no length", pkt(b(7, 3)),
			map[string]string{"itc.tube.type": "7", "itc.tube.routed.len": "", "itc.malformed": "1", "_ws.expert.message": "ROUTED of 2 bytes, shorter than type, length and hop (3)"}},
		{"an inner message too short", pkt(b(7, 3, 1, 0x22, 0x30), src, b(3, 0, 99)),
			map[string]string{"itc.tube.routed.src": tsHex(src), "itc.tube.seq": "", "itc.malformed": "1", "_ws.expert.message": "message of 3 bytes, shorter than type, id and CRC (7)"}},
		{"no inner message", pkt(b(7, 3, 1, 0x22, 0x30), src),
			map[string]string{"itc.tube.routed.src": tsHex(src), "itc.malformed": "1", "_ws.expert.message": "message of 0 bytes, shorter than type, id and CRC (7)"}},
		{"a short inner DATA", pkt(b(7, 3, 1, 0x22, 0x30), src, routedInner(dst, src, b(3), be16(99), be32(1))),
			map[string]string{"itc.tube.seq": "", "itc.malformed": "1", "_ws.expert.message": "DATA of 7 bytes before the CRC, want 8"}},
		{"ROUTED in ROUTED", pkt(b(7, 3, 1, 0x22, 0x30), src, b(7, 3, 1, 0x22, 0x30), src, data),
			map[string]string{"itc.tube.type": "7,7", "itc.tube.routed.len": "3", "itc.malformed": "1", "_ws.expert.message": "a ROUTED message inside a ROUTED one"}},
		{"an undefined inner type", pkt(b(7, 1, 1, 0x20), src, routedInner(dst, src, b(0), be16(1))),
			map[string]string{"itc.tube.type": "7,0", "itc.malformed": "", "itc.unknown": "1", "_ws.expert.message": "tube message type 0 is not defined inside ROUTED (1..6)"}},
	})
}

// routeFuzzPacket is a random service 10 message for
// TestCaptureDissectorFuzz: an LSA or ACK with a count near its bound and
// a length near the count's, or any type; its CRC good or not.
func routeFuzzPacket(rng *mrand.Rand, bad bool) []byte {
	var m []byte
	switch rng.Intn(3) {
	case 0:
		n := rng.Intn(9)
		m = make([]byte, 14+9*n+1)
		rng.Read(m)
		m[0], m[13] = 'L', byte(n)
		for i := 14; i < len(m); i += 9 {
			m[i] = byte(rng.Intn(8))
		}
		m = m[:len(m)-rng.Intn(3)]
	case 1:
		n := rng.Intn(19)
		m = make([]byte, 2+12*n+1)
		rng.Read(m)
		m[0], m[1] = 'A', byte(n)
		m = m[:len(m)-rng.Intn(3)]
	default:
		m = make([]byte, rng.Intn(245))
		rng.Read(m)
	}
	return routePacket(bad, m)
}

// routedFuzzPacket is a random ROUTED message: a path length near its
// bounds, a hop near the length, random nibbles, and an inner message of
// any type and length; a quarter of them cut short.
func routedFuzzPacket(rng *mrand.Rand) []byte {
	n := rng.Intn(35)
	p := []byte{0x82, 9, 7, byte(n), byte(n - 1 + rng.Intn(3))}
	pb := (n + 1) / 2
	for range pb {
		p = append(p, byte(rng.Intn(256)))
	}
	rest := make([]byte, 8+1+rng.Intn(40)) // SRC and the inner message
	rng.Read(rest)
	rest[8] = byte(rng.Intn(9))
	p = append(p, rest...)
	if rng.Intn(4) == 0 {
		p = p[:2+rng.Intn(len(p)-2)]
	}
	return p
}

// TestCaptureRouteTshark captures both tiles of a 2x1 grid while their
// link is cut and restored, and reads the captures with tshark and the
// dissector: each tile sends LSAs of its own identity and ACKs, every CRC
// is good, and once the link is back the west tile's LSA lists the east
// tile on ET, the east's the west tile on WT.
func TestCaptureRouteTshark(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a grid")
	}
	needTshark(t)
	dir := t.TempDir()
	cfg := tilegrid.DefaultConfig(2, 1)
	cfg.Dir = filepath.Join(dir, "grid")
	cfg.Seed = 11
	cfg.HelloInterval, cfg.DeadAfter = 100*time.Millisecond, 1500*time.Millisecond
	cfg.Keepalive, cfg.DownAfter = 100*time.Millisecond, 1000*time.Millisecond
	g := gridtest.Start(t, cfg)
	west, east := tilegrid.Coord{X: 0}, tilegrid.Coord{X: 1}
	// tryTable asks the tile at c for its routes: an error until its
	// routing service has started (routes.ErrNotStarted).
	tryTable := func(c tilegrid.Coord) (routes.Table, error) {
		t.Helper()
		cl, err := control.Dial(g.Tile(c).RunDir)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var tab routes.Table
		return tab, cl.Call("route", routes.Request{}, &tab)
	}
	table := func(c tilegrid.Coord) routes.Table {
		t.Helper()
		tab, err := tryTable(c)
		if err != nil {
			t.Fatal(err)
		}
		return tab
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after 20 s: %s", what)
			}
		}
	}
	// Converged first, so what the captures see comes of the cut. The
	// routing services may not have started when the grid is up.
	ids := map[tilegrid.Coord]p2p.TileID{}
	wait("the tiles do not reach each other", func() bool {
		w, errW := tryTable(west)
		e, errE := tryTable(east)
		if errW != nil || errE != nil {
			return false
		}
		ids[west], ids[east] = w.Self, e.Self
		return w.Reachable == 1 && e.Reachable == 1
	})
	capDir := filepath.Join(dir, "cap")
	var capErr bytes.Buffer
	sc, err := startSimCaptures(g, capDir, &capErr)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.stop()
	before := map[tilegrid.Coord]routes.Counts{west: table(west).Counts, east: table(east).Counts}

	// The cut makes each tile an LSA of no links, which has nowhere to
	// go; the restore one listing the other, and sends its whole
	// database to the neighbour come back.
	if err := g.Cut(west, packet.ET); err != nil {
		t.Fatal(err)
	}
	wait("the tiles still reach each other after the cut", func() bool {
		return table(west).Reachable == 0 && table(east).Reachable == 0
	})
	if err := g.Restore(west, packet.ET); err != nil {
		t.Fatal(err)
	}
	wait("the tiles do not reach each other, each having its neighbour's news acknowledged, after the restore", func() bool {
		for _, c := range []tilegrid.Coord{west, east} {
			tab := table(c)
			if tab.Reachable != 1 || tab.Counts.AcksIn == before[c].AcksIn || tab.Counts.LSAsIn == before[c].LSAsIn {
				return false
			}
		}
		return true
	})
	if !sc.stop() {
		t.Fatalf("captures failed: %s", capErr.String())
	}

	fields := []string{"itc.capture.travel", "itc.service", "itc.route.type", "itc.route.origin", "itc.route.links",
		"itc.route.link.dir", "itc.route.link.tile", "itc.route.acks", "itc.route.ack.origin", "itc.route.crc.good", "itc.malformed"}
	check := func(self, other tilegrid.Coord, dir, back string) {
		name := self.Name()
		rows := fieldRows(t, filepath.Join(capDir, name+".pcapng"), fields...)
		me, them := "0x"+ids[self].String(), "0x"+ids[other].String()
		count := map[string]int{} // travel and type
		listed, heard := false, false
		for _, r := range rows {
			if len(r) != len(fields) {
				t.Fatalf("%s: row %q", name, r)
			}
			travel, svc, typ, origin, nlinks, dirs, tiles, acks, ackOrigins, crc, mal := r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10]
			if svc != "10" {
				continue
			}
			count[travel+" "+typ]++
			if tsBool(crc) != "1" || mal != "" {
				t.Errorf("%s: route message %s of travel %s with crc.good %q, malformed %q", name, typ, travel, crc, mal)
			}
			switch typ {
			case "0x4c":
				if origin != me && origin != them {
					t.Errorf("%s: LSA of origin %s, neither tile (%s, %s)", name, origin, me, them)
				}
				// A tile's own LSA lists its neighbour on its link, or
				// nothing while the link is cut; the other's, this
				// tile on the other side.
				want := map[string][2]string{me: {dir, them}, them: {back, me}}[origin]
				switch {
				case nlinks == "0" && dirs == "" && tiles == "":
				case nlinks == "1" && dirs == want[0] && tiles == want[1]:
					listed = listed || (origin == me && travel == "1")
					heard = heard || (origin == them && travel == "0")
				default:
					t.Errorf("%s: LSA of %s with %s links %q to %q; want none, or %s to %s", name, origin, nlinks, dirs, tiles, want[0], want[1])
				}
			case "0x41":
				if acks == "" || ackOrigins == "" {
					t.Errorf("%s: ACK of %q entries, origins %q", name, acks, ackOrigins)
				}
				for _, o := range strings.Split(ackOrigins, ",") {
					if o != me && o != them {
						t.Errorf("%s: ACK of origin %s, neither tile", name, o)
					}
				}
			default:
				t.Errorf("%s: route message type %q", name, typ)
			}
		}
		for _, k := range []string{"1 0x4c", "0 0x4c", "1 0x41", "0 0x41"} {
			if count[k] == 0 {
				t.Errorf("%s: no route message of travel and type %s (saw %v)", name, k, count)
			}
		}
		if !listed {
			t.Errorf("%s: sent no LSA of its own listing %s on %s", name, them, dir)
		}
		if !heard {
			t.Errorf("%s: received no LSA of %s listing it on %s", name, them, back)
		}
	}
	check(west, east, "2", "6")
	check(east, west, "6", "2")
}
