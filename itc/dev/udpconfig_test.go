package dev

import (
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/t2tiles/itcd/itc/packet"
)

type linksFile struct {
	Links Links `toml:"links"`
}

func TestLinksTOML(t *testing.T) {
	tests := []struct {
		name, body, wantErr string
		want                Links
	}{
		{"names", "[links]\nET = \"a:1\"\nwt = \"b:2\"", "", Links{packet.ET: "a:1", packet.WT: "b:2"}},
		{"number", "[links]\n2 = \"a:1\"", "", Links{packet.ET: "a:1"}},
		{"inline", "links = { NE = \"h:7\" }", "", Links{packet.NE: "h:7"}},
		{"not a link", "[links]\nNT = \"a:1\"", "not a link direction", nil},
		{"twice", "[links]\nET = \"a:1\"\net = \"b:2\"", "ET is given twice", nil},
		{"not a string", "[links]\nET = 7420", "in quotes", nil},
		{"empty or garbled address", "[links]\nET = \"\"", "empty or garbled address", nil},
		{"not a table", "links = 3", "want a table", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f linksFile
			_, err := toml.Decode(tc.body, &f)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(f.Links, tc.want) {
				t.Fatalf("links = %v, %v; want %v", f.Links, err, tc.want)
			}
		})
	}
}

func TestParseLinkFlag(t *testing.T) {
	var l Links
	for _, s := range []string{"ET=10.0.0.2:7420", "nw=h:1"} {
		if err := l.ParseLinkFlag(s); err != nil {
			t.Fatalf("ParseLinkFlag(%q): %v", s, err)
		}
	}
	if want := (Links{packet.ET: "10.0.0.2:7420", packet.NW: "h:1"}); !reflect.DeepEqual(l, want) {
		t.Fatalf("links = %v, want %v", l, want)
	}
	for s, wantErr := range map[string]string{"ET": "DIR=HOST:PORT", "ET=": "DIR=HOST:PORT", "XX=a:1": "want DIR=HOST:PORT", "2=b:2": "ET is already linked to 10.0.0.2:7420", "SE=\xff": "want DIR"} {
		if err := l.ParseLinkFlag(s); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("ParseLinkFlag(%q) = %v, want %q", s, err, wantErr)
		}
	}
}

// FuzzLinksTOML: links that read from a file write back to a file that
// reads the same.
func FuzzLinksTOML(f *testing.F) {
	f.Add("ET", "10.0.0.2:7420", "WT", "h\"\\\x01é:1")
	f.Add("ne", "a", "2", "b")
	f.Fuzz(func(t *testing.T, n1, a1, n2, a2 string) {
		var l Links
		if l.ParseLinkFlag(n1+"="+a1) != nil || l.ParseLinkFlag(n2+"="+a2) != nil {
			return
		}
		b, err := l.MarshalTOML()
		if err != nil {
			t.Fatal(err)
		}
		var back linksFile
		if _, err := toml.Decode("links = "+string(b), &back); err != nil {
			t.Fatalf("MarshalTOML wrote %s, which does not read back: %v", b, err)
		}
		if !reflect.DeepEqual(back.Links, l) {
			t.Fatalf("links %v wrote %s, read back %v", l, b, back.Links)
		}
	})
}

func TestUDPConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*UDPConfig)
		wantErr string
	}{
		{"default", func(*UDPConfig) {}, ""},
		{"zero is default", func(c *UDPConfig) { *c = UDPConfig{} }, ""},
		{"timing", func(c *UDPConfig) { c.DownAfter = c.Keepalive }, "udp.down_after"},
		{"queue", func(c *UDPConfig) { c.OutQueueBytes = -1 }, "udp.out_queue_bytes"},
		{"link", func(c *UDPConfig) { c.Links = Links{packet.ST: "a:1"} }, "not a link direction"},
		{"shape", func(c *UDPConfig) { c.Profile.Loss = 1.5 }, "udp.shape"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultUDPConfig()
			tc.mutate(&c)
			err := c.Validate()
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
