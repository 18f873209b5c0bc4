package daemon

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/buildinfo"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

func FuzzParseHello(f *testing.F) {
	h := Hello{Version: 1, Tile: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, Uptime: 9, Services: 1<<1 | 1<<8, TS: 77, EchoTS: 5, EchoHold: 3}
	f.Add(AppendHello(nil, h))
	f.Add([]byte{})
	f.Add([]byte{helloType})
	f.Add(append(AppendHello(nil, h), 0xff, 0xee))
	h.MFZDigest, h.HasMFZDigest = [4]byte{9, 8, 7, 6}, true
	f.Add(AppendHello(nil, h))
	h.Build, h.HasBuild = "v0.3.0-2-g204e96c-dirty", true
	f.Add(AppendHello(nil, h))
	f.Add(append(AppendHello(nil, h), 0xff)) // a tail after the version
	h.HasMFZDigest = false                   // the flag says bytes 34..37 are no digest
	f.Add(AppendHello(nil, h))
	h.Build = "\x00\xffnot printable"
	f.Add(AppendHello(nil, h))
	long := AppendHello(nil, h)
	long[HelloMFZLen+1] = 200 // a length past the packet and the bound
	f.Add(long)
	h.Build, h.Sealed = "v1", true
	f.Add(AppendHello(nil, h))
	bad := AppendHello(nil, h)
	bad[10] ^= 0x20 // the uptime damaged: the seal no longer matches
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := ParseHello(b)
		if !ok {
			return
		}
		if got.HasMFZDigest && len(b) < HelloMFZLen || got.HasBuild != (len(b) >= HelloBuildLen) {
			t.Fatalf("%d bytes: HasMFZDigest %v HasBuild %v", len(b), got.HasMFZDigest, got.HasBuild)
		}
		if len(got.Build) > buildinfo.WireMax || !got.HasBuild && got.Build != "" {
			t.Fatalf("Build %q (HasBuild %v): past the bound or without the field", got.Build, got.HasBuild)
		}
		if label := BuildLabel(got.Build, got.HasBuild); label != BuildUnknown && label != BuildInvalid && !buildinfo.ValidWire(label) {
			t.Fatalf("BuildLabel(%q) = %q", got.Build, label)
		}
		// What parses re-encodes to the same first HelloLen bytes, or
		// HelloMFZLen when they hold a digest, and parses back the same.
		n := HelloLen
		if got.HasMFZDigest && !got.HasBuild {
			n = HelloMFZLen
		}
		enc := AppendHello(nil, got)
		if !bytes.Equal(enc[:n], b[:n]) {
			t.Fatalf("re-encoded %x, input %x", enc, b[:n])
		}
		if again, ok := ParseHello(enc); !ok || again != got {
			t.Fatalf("re-encoded hello parses as %+v, %v; want %+v", again, ok, got)
		}
	})
}

func FuzzParseBind(f *testing.F) {
	for _, s := range []string{"bind 2", "bind 63", "bind 1", "bind 64", "bind", "bind x", " bind 9\n", "unbind 3"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseBind(b)
		if err == nil && (n < 2 || n > packet.MaxService) {
			t.Fatalf("parseBind(%q) = %d", b, n)
		}
	})
}

// FuzzDemux feeds arbitrary packets to a daemon's demultiplexer: nothing a
// neighbour sends may crash it, be counted nowhere or twice. One daemon
// takes every input (10,000 a second), so a failure may need the inputs
// before it to reproduce.
func FuzzDemux(f *testing.F) {
	f.Add([]byte{0x82, 0x01, helloType, 1, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{0xA2, 1, 2, 3})
	f.Add([]byte{0x82, 9, 'h', 'i'})
	f.Add([]byte{0x82, 40})
	f.Add([]byte{0xC3, 'P'})
	f.Add([]byte{0xC4, 1, 2})
	f.Add([]byte{'A'})
	f.Add([]byte{0x92, 9}) // OVRN
	a, _ := dev.Pipe(packet.ET, 4)
	cfg := DefaultConfig()
	cfg.StateDir = f.TempDir()
	cfg.RunDir = f.TempDir()
	d, err := New(cfg, Options{Device: a, Services: []p2p.Service{&echoService{}}, Logger: testLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > packet.MaxLen {
			b = b[:packet.MaxLen]
		}
		before := d.stats.accounted()
		d.demux(b)
		if after := d.stats.accounted(); after != before+1 {
			t.Fatalf("packet % x counted %d times", b, after-before)
		}
	})
}

// accounted is how many packets from the device were counted where their
// fate is first decided: malformed, local, or in on a link.
func (s *stats) accounted() uint64 {
	n := s.malformed.Load() + s.local.packets.Load()
	for i := range s.link {
		l := &s.link[i]
		n += l.malformed.Load() + l.in[classMFM].packets.Load() + l.in[classService].packets.Load()
	}
	return n
}

// A hello that does not parse is counted on its link and changes nothing.
func TestBadHelloCounted(t *testing.T) {
	a, _ := dev.Pipe(packet.ET, 4)
	cfg := DefaultConfig()
	cfg.StateDir, cfg.RunDir = t.TempDir(), t.TempDir()
	d, err := New(cfg, Options{Device: a, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	pkt, _ := packet.AppendService(nil, packet.ET, packet.ServiceLiveness, []byte{helloType, 1, 0})
	d.demux(pkt)
	for _, l := range d.Status().Links {
		if l.Dir == packet.ET && (l.BadHellos != 1 || l.State != control.Absent) {
			t.Fatalf("ET after a short hello: %+v", l)
		}
	}
}

// FuzzCheckServiceWrite feeds arbitrary messages to the check of what a
// service.sock client bound to service 9 writes: it never panics, refuses
// with a *packet.Error or one of ErrNotService and ErrOtherService, and
// passes only a service-9 packet to a link, which is exactly the message.
func FuzzCheckServiceWrite(f *testing.F) {
	f.Add([]byte{0x82, 9, 'h', 'i'})                     // to ET: passes
	f.Add([]byte{0x86, 9})                               // to WT, empty payload: passes
	f.Add(append([]byte{0x81, 9}, make([]byte, 253)...)) // the longest: passes
	f.Add(append([]byte{0x81, 9}, make([]byte, 254)...)) // one byte too long
	f.Add([]byte{})                                      // an empty message (SOCK_SEQPACKET carries them)
	f.Add([]byte{0x82, 8, 'x'})                          // another service's number
	f.Add([]byte{0x80, 9})                               // to NT: no link
	f.Add([]byte{0x82, 0x49})                            // reserved bits set
	f.Add([]byte{0xA2, 9})                               // MFM
	f.Add([]byte{0xC4, 1, 2})                            // a TEP
	f.Add([]byte("bind 9"))                              // a second bind: non-standard packet 'b'
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := checkServiceWrite(b, 9)
		if err != nil {
			var pe *packet.Error
			if !errors.As(err, &pe) && !errors.Is(err, ErrNotService) && !errors.Is(err, ErrOtherService) {
				t.Fatalf("checkServiceWrite(% x): unexpected error %v", b, err)
			}
			return
		}
		if p.Kind != packet.KindService || p.Service != 9 || !p.Dir.IsLink() || len(b) > packet.MaxLen {
			t.Fatalf("checkServiceWrite(% x) passed %+v", b, p)
		}
		if out, err := packet.Append(nil, &p); err != nil || !bytes.Equal(out, b) {
			t.Fatalf("passed % x, re-encodes to % x, %v", b, out, err)
		}
	})
}

// FuzzCheckMFMWrite is FuzzCheckServiceWrite for mfm.sock: only an MFM
// packet to a link passes, and it is exactly the message.
func FuzzCheckMFMWrite(f *testing.F) {
	f.Add([]byte{0xA2, 1, 2, 3})                      // to ET: passes
	f.Add([]byte{0xA7})                               // to NW, no payload: passes
	f.Add(append([]byte{0xA1}, make([]byte, 254)...)) // the longest: passes
	f.Add(append([]byte{0xA1}, make([]byte, 255)...)) // one byte too long
	f.Add([]byte{})                                   // an empty message
	f.Add([]byte{0xA0, 1})                            // to NT: no link
	f.Add([]byte{0xB2, 1})                            // OVRN set: still MFM
	f.Add([]byte{0x82, 2, 1})                         // a service packet
	f.Add([]byte{0xE0})                               // invalid kind
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := checkMFMWrite(b)
		if err != nil {
			var pe *packet.Error
			if !errors.As(err, &pe) && !errors.Is(err, ErrNotMFM) {
				t.Fatalf("checkMFMWrite(% x): unexpected error %v", b, err)
			}
			return
		}
		if p.Kind != packet.KindMFM || !p.Dir.IsLink() || len(b) > packet.MaxLen {
			t.Fatalf("checkMFMWrite(% x) passed %+v", b, p)
		}
		if out, err := packet.Append(nil, &p); err != nil || !bytes.Equal(out, b) {
			t.Fatalf("passed % x, re-encodes to % x, %v", b, out, err)
		}
	})
}

// FuzzParseControlRequest feeds arbitrary request lines to control.sock's
// parser: it never panics, refuses with one of its sentinel errors, and
// what it passes has a command, and arguments no longer than the line.
func FuzzParseControlRequest(f *testing.F) {
	for _, s := range []string{
		`{"cmd":"status"}`,                                          // passes
		`{"cmd":"link","args":{"dir":"ET"}}`,                        // with arguments
		`{"cmd":"push","args":{"path":"/tmp/x.mfz"},"extra":[1,2]}`, // unknown fields are ignored
		`{"cmd":"ping"}  `,                                          // trailing blanks
		`{"cmd":""}`,                                                // empty command
		`{}`,                                                        // no command
		`null`,                                                      // JSON, but no object
		`[{"cmd":"status"}]`,                                        // an array
		`{"cmd":5}`,                                                 // a number for a command
		`{"cmd":"status"} {"cmd":"ping"}`,                           // two objects on one line
		`{"cmd":"status"`,                                           // cut short
		"{\"cmd\":\"\u2028\x00\"}",                                  // odd characters
		``,                                                          // an empty line
		"\xff\xfe",                                                  // not UTF-8
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := parseControlRequest(line)
		if err != nil {
			if !errors.Is(err, ErrRequestTooLong) && !errors.Is(err, ErrRequestNotJSON) && !errors.Is(err, ErrRequestNoCmd) {
				t.Fatalf("parseControlRequest(%q): unexpected error %v", line, err)
			}
			return
		}
		// JSON replaces each byte of invalid UTF-8 in a string by U+FFFD,
		// 3 bytes: a command may be longer than its line, never 3 times.
		if req.Cmd == "" || len(req.Cmd) > 3*len(line) || len(req.Args) > len(line) {
			t.Fatalf("parseControlRequest(%q) = %+v", line, req)
		}
	})
}

// FuzzControlLines reads an arbitrary byte stream as control.sock does,
// line by line with a small limit, and parses every line: no line handed
// on is longer than the limit or holds a newline, what is handed on is
// never more than what came in, and the reader stops at the first line
// over the limit.
func FuzzControlLines(f *testing.F) {
	f.Add([]byte("{\"cmd\":\"status\"}\n{\"cmd\":\"ping\"}\n"))        // two requests
	f.Add([]byte("{\"cmd\":\"status\"}\r\n"))                          // CRLF
	f.Add([]byte("{\"cmd\":\"status\"}"))                              // no final newline
	f.Add([]byte("\n\n\n"))                                            // empty lines
	f.Add([]byte(strings.Repeat("x", 100) + "\n{\"cmd\":\"ping\"}\n")) // over the limit first
	f.Add([]byte("{\"cmd\":\"" + strings.Repeat("a", 60) + "\"}\n"))   // just over the limit
	f.Add([]byte("\x00\xff\n{\n"))                                     // garbage
	const limit = 64
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(b), 16)
		total := 0
		for {
			line, err := control.ReadLine(r, limit)
			if err != nil {
				if err != io.EOF && err != control.ErrLineTooLong {
					t.Fatalf("readLine: %v", err)
				}
				return
			}
			if len(line) > limit || bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("readLine handed on %q", line)
			}
			if total += len(line); total > len(b) {
				t.Fatalf("%d bytes of lines from %d bytes", total, len(b))
			}
			if req, err := parseControlRequest(line); err == nil && req.Cmd == "" {
				t.Fatalf("request %q without a command passed", line)
			}
		}
	})
}
