package daemon

import (
	"bytes"
	"testing"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
)

func FuzzParseHello(f *testing.F) {
	h := hello{version: 1, tile: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, uptime: 9, services: 1<<1 | 1<<8, ts: 77, echoTS: 5, echoHold: 3}
	f.Add(appendHello(nil, &h))
	f.Add([]byte{})
	f.Add([]byte{helloType})
	f.Add(append(appendHello(nil, &h), 0xff, 0xee))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parseHello(b)
		if !ok {
			return
		}
		// What parses re-encodes to the same first helloLen bytes.
		if enc := appendHello(nil, &got); !bytes.Equal(enc, b[:helloLen]) {
			t.Fatalf("re-encoded %x, input %x", enc, b[:helloLen])
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
// neighbour sends may crash it or be counted nowhere.
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
	d, err := New(cfg, Options{Device: a, Services: []Service{&echoService{}}, Logger: testLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > packet.MaxLen {
			b = b[:packet.MaxLen]
		}
		d.demux(b)
	})
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
		if l.Dir == packet.ET && (l.BadHellos != 1 || l.State != Absent) {
			t.Fatalf("ET after a short hello: %+v", l)
		}
	}
}
