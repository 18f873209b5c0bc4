package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/internal/pcapng"
	"github.com/t2tiles/itcd/services/mfz"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/sim/tilegrid/gridtest"
)

func TestCaptureFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "-w FILE.pcapng is required"},
		{[]string{"-w", "x.pcapng", "extra"}, `unexpected argument "extra"`},
		{[]string{"-w", "x.pcapng", "--dir", "NT"}, `--dir "NT": not a link`},
		{[]string{"-w", "x.pcapng", "--dir", "ET,up"}, `--dir "up": not a link`},
		{[]string{"-w", "x.pcapng", "--kind", "tcp"}, `--kind "tcp": want mfm, service or local`},
		{[]string{"-w", "x.pcapng", "--duration", "-1s"}, "--duration must not be negative"},
		{[]string{"-w", "x.pcapng", "--count", "-3"}, "invalid value"},
		{[]string{"-w", "x.pcapng", "--bogus"}, "not defined"},
	} {
		var out, errb bytes.Buffer
		if code := cmdCapture(tc.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
	o, code := parseCapture([]string{"-w", "-", "--dir", "et,WT", "--dir", "ET", "--kind", "MFM,local", "--count", "5"}, &bytes.Buffer{}, &bytes.Buffer{})
	if o == nil || code != 0 || len(o.args.Links) != 2 || len(o.args.Kinds) != 2 || o.count != 5 || o.out != "-" {
		t.Fatalf("parseCapture: %+v, exit %d", o, code)
	}
}

func TestCaptureNoDaemon(t *testing.T) {
	var out, errb bytes.Buffer
	dir := t.TempDir()
	code := cmdCapture([]string{"--run-dir", dir, "-w", filepath.Join(dir, "c.pcapng")}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "no itcd control socket") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*c.pcapng*")); len(m) != 0 {
		t.Fatalf("left behind: %v", m)
	}
}

// needTshark returns the path of tshark, or skips the test without it.
func needTshark(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed: this test reads captures with Wireshark's tshark and dist/wireshark/itc.lua (Debian: apt-get install tshark; .ci/run installs it)")
	}
	return bin
}

// tshark runs tshark with the repository's dissector on file and
// returns one line per packet of the fields asked for, tab-separated,
// repeated values comma-separated. It skips the test without tshark.
func tshark(t *testing.T, file string, args ...string) []string {
	t.Helper()
	bin := needTshark(t)
	lua, err := filepath.Abs("../../dist/wireshark/itc.lua")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"-X", "lua_script:" + lua, "-r", file}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no personal plugins or preferences
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("tshark %q: %v\n%s", args, err, errb.String())
	}
	if strings.Contains(errb.String(), "Lua") || strings.Contains(out.String(), "Lua Error") {
		t.Fatalf("tshark reports a Lua error:\n%s\n%s", errb.String(), out.String())
	}
	return strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
}

// fieldRows reads the given fields of every packet of file.
func fieldRows(t *testing.T, file string, fields ...string) [][]string {
	args := []string{"-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	var rows [][]string
	for _, l := range tshark(t, file, args...) {
		rows = append(rows, strings.Split(l, "\t"))
	}
	return rows
}

// TestCaptureSimPushTshark pushes a file of 4 blocks (a hash page and 3
// body blocks of 1 KiB, MFZ format 3) across a 2x1 grid,
// captures both tiles (itcd sim --capture), and reads the captures with
// tshark and the dissector: the fields must say what the tiles did.
func TestCaptureSimPushTshark(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a grid")
	}
	needTshark(t)
	dir := t.TempDir()
	key, file := makeSignedFile(t, dir, "cap.mfz", 2_500) // 3 body blocks of 1 KiB (mfz.ChooseBlockSize) after 1 page
	mf, _, err := mfz.ReadFileAt(file)
	if err != nil || mf.Manifest.BlockCount() != 4 {
		t.Fatalf("the file: %v", err)
	}
	capDir := filepath.Join(dir, "cap")
	var out, errb bytes.Buffer
	code := runSim([]string{"--grid", "2x1", "--rate", "512KB/s", "--dir", filepath.Join(dir, "grid"), "--trust", key,
		"--push", file, "--at", "t-0-0", "--until-complete", "--timeout", "60s", "--json", "--capture", capDir}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "itcd sim: captures in "+capDir) || !strings.Contains(errb.String(), " 0 lost") {
		t.Errorf("stderr does not sum up the captures: %s", errb.String())
	}
	fields := []string{"itc.capture.travel", "itc.capture.link", "itc.service", "itc.mfz.type", "itc.mfz.block",
		"itc.tep.event", "itc.tep.dir", "frame.packet_flags_direction", "itc.mfz.crc.good", "itc.hello.tile", "itc.hello.crc.good"}
	type seen map[string]bool
	check := func(tile string, dataTravel string) {
		rows := fieldRows(t, filepath.Join(capDir, tile+".pcapng"), fields...)
		services, types, dataBlocks, travels := seen{}, seen{}, seen{}, seen{}
		tepConnectET := false
		sealedHellos := 0
		for _, r := range rows {
			if len(r) != len(fields) {
				t.Fatalf("%s: row %q", tile, r)
			}
			travel, link, svc, typ, block, ev, tdir, flags, crc, helloCRC := r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[10]
			travels[travel] = true
			if helloCRC != "" {
				sealedHellos++
				if helloCRC != "1" && helloCRC != "True" {
					t.Errorf("%s: a sealed hello with crc.good %q", tile, helloCRC)
				}
			}
			if svc != "" {
				services[svc] = true
			}
			if link != "2" && link != "6" {
				t.Errorf("%s: a packet of link %q in a 2x1 grid", tile, link)
			}
			wantFlags := map[string]string{"0": "0x00000001", "1": "0x00000002"}[travel]
			if travel != "2" && flags != wantFlags {
				t.Errorf("%s: travel %s with epb_flags direction %q, want %q", tile, travel, flags, wantFlags)
			}
			if ev == "1" && travel == "2" {
				tepConnectET = tepConnectET || tdir == "2" || tdir == "6"
			}
			if typ != "" {
				types[typ] = true
				if crc != "1" && crc != "True" {
					t.Errorf("%s: mfz message type %s with crc.good %q", tile, typ, crc)
				}
			}
			if (typ == "7" || typ == "11") && travel == dataTravel {
				dataBlocks[block] = true
			}
		}
		// Only what follows the push, which comes after the captures
		// start: SYNC and the counter's values come with a connect,
		// which may be before.
		for _, s := range []string{"1", "8"} {
			if !services[s] {
				t.Errorf("%s: no packet of service %s (saw %v)", tile, s, services)
			}
		}
		// No HAVE: in a 2x1 push neither tile lacks a block the other
		// could tell it of (TestCaptureDissectorHave reads one).
		for _, m := range []string{"1", "3", "10", "11"} { // ANNOUNCE, MANIFEST, REQUESTS (the manifest asks and the requests: every tile here takes them numbered), SHORT DATA (every tile here asks for it)
			if !types[m] {
				t.Errorf("%s: no mfz message of type %s (saw %v)", tile, m, types)
			}
		}
		if !dataBlocks["0"] || !dataBlocks["1"] || !dataBlocks["2"] || !dataBlocks["3"] || len(dataBlocks) != 4 {
			t.Errorf("%s: DATA (travel %s) of blocks %v, want 0 (the page), 1, 2, 3", tile, dataTravel, dataBlocks)
		}
		if !travels["0"] || !travels["1"] || !travels["2"] {
			t.Errorf("%s: travels %v, want in, out and event", tile, travels)
		}
		if !tepConnectET {
			t.Errorf("%s: no TEP connect of its link", tile)
		}
		if sealedHellos == 0 {
			t.Errorf("%s: no sealed hello", tile)
		}
	}
	check("t-0-0", "1") // the source sends the blocks
	check("t-1-0", "0") // its neighbour receives them
}

// TestCaptureDissectorFuzz feeds the dissector packets of random bytes,
// and random messages of every service with good CRCs (tube and route
// messages with bad ones too, ROUTED tube messages half-valid), and
// checks tshark reports no Lua error anywhere in the full tree.
func TestCaptureDissectorFuzz(t *testing.T) {
	needTshark(t)
	rng := mrand.New(mrand.NewSource(1))
	var buf bytes.Buffer
	sink, err := newPcapSink(&buf, control.CaptureInfo{Tile: "fuzz", Device: "none"}, "random packets", nil)
	if err != nil {
		t.Fatal(err)
	}
	rnd := func(n int) []byte {
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	var pkts [][]byte
	for i := 0; i < 5000; i++ {
		var p []byte
		switch i % 10 {
		case 0: // anything
			p = rnd(rng.Intn(256))
		case 1: // a routed service packet of a known service
			svc := []byte{1, 2, 8, 9, 10, 0, 0x48}[rng.Intn(7)]
			p = append([]byte{0x80 | byte(rng.Intn(32)), svc}, rnd(rng.Intn(254))...)
		case 2, 3: // an mfz message with a good CRC
			body := append([]byte{byte(rng.Intn(11)), byte(rng.Intn(256))}, rnd(rng.Intn(30+rng.Intn(220)))...)
			if len(body) > 251 {
				body = body[:251]
			}
			p = append([]byte{0x82, 8}, body...)
			p = binary.BigEndian.AppendUint16(p, crc16(body))
		case 4: // a local packet
			p = append([]byte{0xC0 | byte(rng.Intn(64))}, rnd(rng.Intn(20))...)
		case 5: // a short one, or a sealed hello whose CRC is good or not
			p = rnd(rng.Intn(4))
			if rng.Intn(2) == 0 {
				p = helloFuzzPacket(rng, rng.Intn(2) == 0)
			}
		case 6, 7: // a tube message: its CRC good (6) or not (7)
			p = tubeFuzzPacket(rng, i%10 == 7)
		case 8: // a route message: its CRC good or not
			p = routeFuzzPacket(rng, rng.Intn(2) == 0)
		case 9: // a ROUTED tube message
			p = routedFuzzPacket(rng)
		}
		pkts = append(pkts, p)
	}
	for i, p := range pkts {
		r := control.Record{Type: control.RecordPacket, Travel: control.Travel(rng.Intn(3)), Link: byte(rng.Intn(9)), Time: time.Unix(1_700_000_000, int64(i)), Data: p}
		if r.Link == 8 {
			r.Link = control.NoLink
		}
		if err := sink.packet(r); err != nil {
			t.Fatal(err)
		}
	}
	// Pseudo-headers the dissector must refuse politely: short, or of
	// another version.
	for _, raw := range [][]byte{{}, {1}, {1, 0, 2}, {2, 0, 2, 0, 0x82, 8}, {1, 0, 2, 0}} {
		sink.w.WritePacket(pcapngPacket(raw))
	}
	file := filepath.Join(t.TempDir(), "fuzz.pcapng")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := tshark(t, file, "-V")
	if len(out) < len(pkts) {
		t.Fatalf("tshark printed %d lines for %d packets", len(out), len(pkts))
	}
	n := tshark(t, file, "-Y", "_ws.lua.error")
	if len(n) > 1 || n[0] != "" {
		t.Fatalf("%d packets with a Lua error, first: %s", len(n), n[0])
	}
	// Malformed packets are marked: a service 0 packet is one.
	mal := tshark(t, file, "-Y", "itc.malformed", "-T", "fields", "-e", "frame.number")
	if len(mal) < 100 {
		t.Errorf("only %d packets marked malformed among %d random ones", len(mal), len(pkts))
	}
	// Tube messages are read, their CRCs checked both ways.
	crcs := map[string]int{}
	for _, r := range fieldRows(t, file, "itc.tube.crc.good", "itc.tube.bad_crc") {
		crcs[tsBool(r[0])+" "+r[1]]++
	}
	if crcs["1 "] < 200 || crcs["0 1"] < 200 {
		t.Errorf("tube CRCs good, bad: %v; want 200 or more of each", crcs)
	}
	// So are sealed hellos.
	crcs = map[string]int{}
	for _, r := range fieldRows(t, file, "itc.hello.crc.good", "itc.hello.bad_crc") {
		crcs[tsBool(r[0])+" "+r[1]]++
	}
	if crcs["1 "] < 50 || crcs["0 1"] < 50 {
		t.Errorf("hello CRCs good, bad: %v; want 50 or more of each", crcs)
	}
	// So are route messages, and ROUTED ones.
	crcs = map[string]int{}
	routed := 0
	for _, r := range fieldRows(t, file, "itc.route.crc.good", "itc.route.bad_crc", "itc.tube.routed.len") {
		crcs[tsBool(r[0])+" "+r[1]]++
		if r[2] != "" {
			routed++
		}
	}
	if crcs["1 "] < 100 || crcs["0 1"] < 100 || routed < 300 {
		t.Errorf("route CRCs good, bad: %v, %d ROUTED; want 100 or more of each, 300 ROUTED", crcs, routed)
	}
}

// helloFuzzPacket is a sealed hello of random fields and a version of
// 0..40 random bytes, after a packet header and the service byte; bad
// flips one bit of the hello, never the flags byte (so it stays sealed).
func helloFuzzPacket(rng *mrand.Rand, bad bool) []byte {
	h := daemon.Hello{Version: byte(rng.Intn(256)), Uptime: rng.Uint32(), Services: rng.Uint64(), TS: rng.Uint32(),
		EchoTS: rng.Uint32(), EchoHold: rng.Uint32(), HasMFZDigest: rng.Intn(2) == 0, HasBuild: true, Sealed: true}
	rng.Read(h.Tile[:])
	rng.Read(h.MFZDigest[:])
	build := make([]byte, rng.Intn(41))
	rng.Read(build)
	h.Build = string(build)
	p := daemon.AppendHello([]byte{0x80 | byte(rng.Intn(32)), 1}, h)
	if bad {
		pos := 2 + rng.Intn(len(p)-2)
		if pos == 2+daemon.HelloMFZLen {
			pos++ // the flags byte: keep it sealed
		}
		p[pos] ^= 1 << rng.Intn(8)
	}
	return p
}

func pcapngPacket(raw []byte) pcapng.Packet {
	return pcapng.Packet{Time: time.Unix(1_700_000_001, 0), Data: raw}
}

// crc16 is service 8's CRC-16/CCITT-FALSE, bit by bit.
func crc16(b []byte) uint16 {
	c := uint16(0xFFFF)
	for _, x := range b {
		c ^= uint16(x) << 8
		for k := 0; k < 8; k++ {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
	}
	return c
}

// pcapBlocks walks a pcapng stream's blocks: type and body each.
func pcapBlocks(t *testing.T, b []byte) (types []uint32, bodies [][]byte) {
	t.Helper()
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("%d bytes left over", len(b))
		}
		typ, n := binary.LittleEndian.Uint32(b), int(binary.LittleEndian.Uint32(b[4:]))
		if n < 12 || n%4 != 0 || n > len(b) || int(binary.LittleEndian.Uint32(b[n-4:])) != n {
			t.Fatalf("block %#x of bad length %d", typ, n)
		}
		types, bodies = append(types, typ), append(bodies, b[8:n-4])
		b = b[n:]
	}
	return types, bodies
}

// TestCaptureCommand runs `itcd capture` against a tile of a running
// grid: a count to stdout, a duration and a stop (^C) into files.
func TestCaptureCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a grid")
	}
	dir := t.TempDir()
	cfg := tilegrid.DefaultConfig(2, 1)
	cfg.Dir = filepath.Join(dir, "grid")
	g := gridtest.Start(t, cfg)
	runDir := g.Tile(tilegrid.Coord{X: 0, Y: 0}).RunDir

	t.Run("count to stdout", func(t *testing.T) {
		var out, errb bytes.Buffer
		o, code := parseCapture([]string{"--run-dir", runDir, "--count", "5", "--kind", "service", "--dir", "ET", "-w", "-"}, &out, &errb)
		if o == nil {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if code := capturePackets(context.Background(), o, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if !strings.Contains(errb.String(), "5 packets captured, 0 lost") {
			t.Errorf("stderr %q", errb.String())
		}
		types, bodies := pcapBlocks(t, out.Bytes())
		want := []uint32{pcapng.BlockSHB, pcapng.BlockIDB, 6, 6, 6, 6, 6, pcapng.BlockISB}
		if fmt.Sprint(types) != fmt.Sprint(want) {
			t.Fatalf("blocks %x, want %x", types, want)
		}
		if lt := binary.LittleEndian.Uint16(bodies[1]); lt != LinkTypeITC {
			t.Errorf("link type %d, want %d", lt, LinkTypeITC)
		}
		for _, b := range bodies[2:7] {
			data := b[20:]
			if data[0] != 1 || data[2] != 2 || data[4]&0xE0 != 0x80 || data[4]&7 != 2 {
				t.Errorf("packet % x: want a service packet of ET", data[:5])
			}
		}
	})
	t.Run("duration into a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "d.pcapng")
		var out, errb bytes.Buffer
		if code := cmdCapture([]string{"--run-dir", runDir, "--duration", "700ms", "-w", file}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		types, _ := pcapBlocks(t, b)
		if len(types) < 4 || types[len(types)-1] != pcapng.BlockISB {
			t.Errorf("blocks %x: want packets and an ISB", types)
		}
		if m, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*")); len(m) != 0 {
			t.Errorf("temporary files left: %v", m)
		}
	})
	t.Run("stopped", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "s.pcapng")
		o, _ := parseCapture([]string{"--run-dir", runDir, "-w", file}, io.Discard, io.Discard)
		ctx, cancel := context.WithCancel(context.Background())
		var errb bytes.Buffer
		done := make(chan int, 1)
		go func() { done <- capturePackets(ctx, o, io.Discard, &errb) }()
		// Until the file is being written, then as ^C does.
		deadline := time.Now().Add(20 * time.Second)
		for {
			if m, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".s.pcapng.*")); len(m) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the capture never started its file")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := os.Stat(file); err == nil {
			t.Error("the file has its name before the capture ends")
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if _, err := os.Stat(file); err != nil {
			t.Fatal(err)
		}
	})
}
