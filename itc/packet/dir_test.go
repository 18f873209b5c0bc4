package packet_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
)

func TestDirString(t *testing.T) {
	want := []string{"NT", "NE", "ET", "SE", "ST", "SW", "WT", "NW"}
	for d := packet.Dir(0); d < 8; d++ {
		if d.String() != want[d] {
			t.Errorf("Dir(%d).String() = %q, want %q", d, d.String(), want[d])
		}
	}
	for _, d := range []packet.Dir{8, 9, 255} {
		if got, want := d.String(), "Dir("+strconv.Itoa(int(d))+")"; got != want {
			t.Errorf("Dir(%d).String() = %q, want %q", d, got, want)
		}
	}
}

func TestParseDir(t *testing.T) {
	good := map[string]packet.Dir{
		"NT": packet.NT, "NE": packet.NE, "ET": packet.ET, "SE": packet.SE,
		"ST": packet.ST, "SW": packet.SW, "WT": packet.WT, "NW": packet.NW,
		"et": packet.ET, "Et": packet.ET, "eT": packet.ET, "nw": packet.NW, "sW": packet.SW,
		"0": packet.NT, "1": packet.NE, "2": packet.ET, "3": packet.SE,
		"4": packet.ST, "5": packet.SW, "6": packet.WT, "7": packet.NW,
	}
	for s, want := range good {
		got, err := packet.ParseDir(s)
		if err != nil || got != want {
			t.Errorf("ParseDir(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	bad := []string{
		"", "N", "E", "EAST", "east", "8", "9", "-1", "07", "00", "+2", " ET", "ET ", "E T",
		"ETX", "x", "Dir(2)", "\x00", "NEW",
		"ſe", "ſw", // U+017F folds to 's' under Unicode folding; must not parse
		"ＥＴ", // full-width letters
	}
	for _, s := range bad {
		if d, err := packet.ParseDir(s); err == nil {
			t.Errorf("ParseDir(%q) = %v, want an error", s, d)
		}
	}
}

func TestDirOpposite(t *testing.T) {
	want := map[packet.Dir]packet.Dir{
		packet.NT: packet.ST, packet.NE: packet.SW, packet.ET: packet.WT, packet.SE: packet.NW,
		packet.ST: packet.NT, packet.SW: packet.NE, packet.WT: packet.ET, packet.NW: packet.SE,
	}
	if len(want) != 8 {
		t.Fatal("table does not cover all 8 directions")
	}
	for d, o := range want {
		if d.Opposite() != o {
			t.Errorf("%v.Opposite() = %v, want %v", d, d.Opposite(), o)
		}
		if d.Opposite().Opposite() != d {
			t.Errorf("%v.Opposite().Opposite() = %v", d, d.Opposite().Opposite())
		}
		if d.IsLink() != o.IsLink() {
			t.Errorf("%v and its opposite %v disagree on IsLink", d, o)
		}
	}
}

func TestDirIsLink(t *testing.T) {
	links := map[packet.Dir]bool{packet.NE: true, packet.ET: true, packet.SE: true, packet.SW: true, packet.WT: true, packet.NW: true}
	for d := 0; d < 256; d++ {
		if got := packet.Dir(d).IsLink(); got != links[packet.Dir(d)] {
			t.Errorf("Dir(%d).IsLink() = %v", d, got)
		}
	}
	for _, d := range packet.Links {
		if !d.IsLink() {
			t.Errorf("Links holds %v, which is not a link", d)
		}
	}
	if len(packet.Links) != len(links) {
		t.Errorf("Links has %d entries, want %d", len(packet.Links), len(links))
	}
}

func TestDirText(t *testing.T) {
	for d := packet.Dir(0); d < 8; d++ {
		b, err := d.MarshalText()
		if err != nil || string(b) != d.String() {
			t.Fatalf("%v.MarshalText() = %q, %v", d, b, err)
		}
		var back packet.Dir
		if err := back.UnmarshalText(b); err != nil || back != d {
			t.Fatalf("UnmarshalText(%q) = %v, %v; want %v", b, back, err, d)
		}
	}
	// Lower case and digits come back too.
	for in, want := range map[string]packet.Dir{"wt": packet.WT, "5": packet.SW} {
		var d packet.Dir
		if err := d.UnmarshalText([]byte(in)); err != nil || d != want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	// Junk is an error and leaves the value alone.
	d := packet.NE
	if err := d.UnmarshalText([]byte("up")); err == nil {
		t.Error("UnmarshalText(\"up\") succeeded")
	}
	if d != packet.NE {
		t.Errorf("failed UnmarshalText changed the value to %v", d)
	}

	// Through encoding/json, as config and status files use it.
	type cfg struct {
		Link  packet.Dir            `json:"link"`
		Peers map[string]packet.Dir `json:"peers"`
	}
	in := cfg{Link: packet.SE, Peers: map[string]packet.Dir{"a": packet.WT}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"link":"SE","peers":{"a":"WT"}}` {
		t.Fatalf("json = %s", b)
	}
	var out cfg
	if err := json.Unmarshal([]byte(`{"link":"nw","peers":{"a":"2"}}`), &out); err != nil {
		t.Fatal(err)
	}
	if out.Link != packet.NW || out.Peers["a"] != packet.ET {
		t.Fatalf("json decoded %+v", out)
	}
	if err := json.Unmarshal([]byte(`{"link":"north"}`), &out); err == nil {
		t.Fatal("json accepted direction \"north\"")
	}
}
