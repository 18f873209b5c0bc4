package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/sim/tilegrid"
)

func TestParseMFZIDRule(t *testing.T) {
	c := func(x, y int) tilegrid.Coord { return tilegrid.Coord{X: x, Y: y} }
	for _, tc := range []struct {
		in   string
		want mfzidRule
		str  string
	}{
		{"A", mfzidRule{sel: selAll, id: "A"}, "all=A"},
		{"", mfzidRule{sel: selAll}, "all="},
		{"all=B", mfzidRule{sel: selAll, id: "B"}, "all=B"},
		{"all=a=b", mfzidRule{sel: selAll, id: "a=b"}, "all=a=b"},
		{"t-1-2=B", mfzidRule{sel: selTile, a: c(1, 2), id: "B"}, "t-1-2=B"},
		{"1,2=B", mfzidRule{sel: selTile, a: c(1, 2), id: "B"}, "t-1-2=B"},
		{"t-0-0..t-1-3=B", mfzidRule{sel: selRect, a: c(0, 0), b: c(1, 3), id: "B"}, "t-0-0..t-1-3=B"},
		{"x<2=B", mfzidRule{sel: selXLess, n: 2, id: "B"}, "x<2=B"},
		{"x>=02=B", mfzidRule{sel: selXAtLeast, n: 2, id: "B"}, "x>=2=B"},
		{"y<1=", mfzidRule{sel: selYLess, n: 1}, "y<1="},
		{"y>=3=<-z tag>[digest]", mfzidRule{sel: selYAtLeast, n: 3, id: "<-z tag>[digest]"}, "y>=3=<-z tag>[digest]"},
	} {
		got, err := parseMFZIDRule(tc.in)
		if err != nil || got != tc.want || got.String() != tc.str {
			t.Errorf("parseMFZIDRule(%q) = %+v (%s), %v; want %+v (%s)", tc.in, got, got, err, tc.want, tc.str)
		}
	}
	for _, in := range []string{"a=b", "z<2=B", "x<=B", "x<-1=B", "x<70000=B", "t-1=B", "t-0-0..=B", "..t-1-1=B", "t-0-0..t-1=B",
		"all=" + strings.Repeat("x", 101)} {
		if r, err := parseMFZIDRule(in); err == nil {
			t.Errorf("parseMFZIDRule(%q) = %+v, want an error", in, r)
		}
	}
}

func TestMFZIDFlagOf(t *testing.T) {
	var f mfzidFlag
	for _, s := range []string{"A", "x>=2=B", "t-0-0..t-1-1=C", "t-3-3=D"} {
		if err := f.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		x, y int
		want string
	}{{0, 0, "C"}, {1, 1, "C"}, {0, 2, "A"}, {2, 0, "B"}, {3, 3, "D"}, {3, 2, "B"}} {
		if got := f.of(tilegrid.Coord{X: tc.x, Y: tc.y}); got != tc.want {
			t.Errorf("t-%d-%d: %q, want %q", tc.x, tc.y, got, tc.want)
		}
	}
	if err := f.check(tilegrid.Geometry{W: 4, H: 4}); err != nil {
		t.Error(err)
	}
	if err := f.check(tilegrid.Geometry{W: 3, H: 3}); err == nil || !strings.Contains(err.Error(), "t-3-3") {
		t.Errorf("t-3-3 outside a 3x3 grid: %v", err)
	}
	if (mfzidFlag{}).hook() != nil || f.hook() == nil {
		t.Error("hook: nil exactly without rules")
	}
}

func TestParseSimMFZID(t *testing.T) {
	o, code := parseSim([]string{"--grid", "3x1", "--mfzid", "A", "--mfzid", "x>=2=B"}, io.Discard)
	if o == nil {
		t.Fatalf("exit %d", code)
	}
	_, cfg := buildSim(o, io.Discard, io.Discard)
	if cfg.MFZID == nil || cfg.MFZID(tilegrid.Coord{X: 1}) != "A" || cfg.MFZID(tilegrid.Coord{X: 2}) != "B" {
		t.Errorf("config's MFZID hook wrong")
	}
	for _, args := range [][]string{
		{"--grid", "2x2", "--mfzid", "t-5-5=A"},
		{"--grid", "2x2", "--mfzid", "q=A"},
	} {
		var errb bytes.Buffer
		if o, code := parseSim(args, &errb); o != nil || code != 2 || !strings.Contains(errb.String(), "--mfzid") {
			t.Errorf("%q: %v, exit %d, %s", args, o, code, errb.String())
		}
	}
}

// FuzzParseMFZIDRule: whatever parses, its String parses back to the same
// rule, and nothing panics.
func FuzzParseMFZIDRule(f *testing.F) {
	for _, s := range []string{"A", "", "all=B", "all=a=b", "t-1-2=B", "1,2=B", "t-0-0..t-1-3=B", "x<2=B", "x>=02=B", "y<1=", "y>=3=x",
		"a=b", "x<-1=B", "t-0-0..=B", " 1, 2 =B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseMFZIDRule(s)
		if err != nil {
			return
		}
		r2, err := parseMFZIDRule(r.String())
		if err != nil || r2 != r {
			t.Fatalf("parse(%q) = %+v; parse(%q) = %+v, %v", s, r, r.String(), r2, err)
		}
	})
}
