package dev

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
)

func TestParseMFZID(t *testing.T) {
	for _, tc := range []struct {
		text string
		want MFZIDFile
		err  string
	}{
		{"-1 0 \n", MFZIDFile{Writer: -1, Token: 0, ID: ""}, ""},
		{"815 17 phys\n", MFZIDFile{Writer: 815, Token: 17, ID: "phys"}, ""},
		{"815 17 a b c\n\n", MFZIDFile{Writer: 815, Token: 17, ID: "a b c\n"}, ""},
		{"815 17 phys", MFZIDFile{}, "newline"},
		{"815\n", MFZIDFile{}, "TID TOKEN ID"},
		{"x 1 p\n", MFZIDFile{}, "writer thread"},
		{"-2 1 p\n", MFZIDFile{}, "writer thread"},
		{"99999999999 1 p\n", MFZIDFile{}, "writer thread"},
		{"5 256 p\n", MFZIDFile{}, "token"},
		{"5 1 " + strings.Repeat("x", 102) + "\n", MFZIDFile{}, "over the module's"},
		{"", MFZIDFile{}, "newline"},
	} {
		got, err := ParseMFZID(tc.text)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an error saying %q", tc.text, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v %v, want %+v", tc.text, got, err, tc.want)
		}
	}
}

// statisticsText is what the model of the module prints for two links.
const statisticsText = StatisticsHeader + `
0 0 0 0 0 0 0 0 0 0 0 0
1 0 0 0 0 0 0 0 0 0 0 0
2 3 1 2 40 50 4 5 600 700 6 7
3 0 0 0 0 0 0 0 0 0 0 0
4 0 0 0 0 0 0 0 0 0 0 0
5 0 0 0 0 0 0 0 0 0 0 0
6 1 0 0 0 0 0 0 -5 0 0 1
7 0 0 0 0 0 0 0 0 0 0 0
`

func TestParseStatistics(t *testing.T) {
	rows, err := ParseStatistics(statisticsText)
	if err != nil || len(rows) != 8 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	want := LinkStatistics{Dir: packet.ET, PSAN: 3, SFAN: 1, TOAN: 2,
		MFM: Traffic{40, 50, 4, 5}, Service: Traffic{600, 700, 6, 7}}
	if rows[2] != want {
		t.Errorf("ET %+v, want %+v", rows[2], want)
	}
	if rows[6].Service.BytesSent != -5 {
		t.Errorf("WT %+v: a counter past 2^31 prints negative and parses so", rows[6])
	}
	for _, tc := range []struct{ text, err string }{
		{"", "header"},
		{"dir psan\n0 0\n", "header"},
		{StatisticsHeader + "\n0 0 0\n", "line 2: 3 fields"},
		{StatisticsHeader + "\n8 0 0 0 0 0 0 0 0 0 0 0\n", "dir 8"},
		{StatisticsHeader + "\n0 0 0 0 0 0 0 0 0 0 0 x\n", "field 12"},
		{StatisticsHeader + "\n" + strings.Repeat("0 0 0 0 0 0 0 0 0 0 0 0\n", maxSysLines+1), "over 64 rows"},
		{strings.Repeat(" ", MaxSysFileBytes+1), "too long"},
	} {
		if _, err := ParseStatistics(tc.text); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%.40q: %v, want an error saying %q", tc.text, err, tc.err)
		}
	}
}

func TestParseFIFOs(t *testing.T) {
	text := FIFOsHeader + "\nmLocalIB-itc!pru!0 0 0 0 0 0 255 0 0\nmUserIB-itc!flash 16380 0 16380 0 16380 0 3 -7\n"
	rows, err := ParseFIFOs(text)
	if err != nil || len(rows) != 2 {
		t.Fatalf("%+v, %v", rows, err)
	}
	want := FIFO{Name: "mUserIB-itc!flash", BIn: 16380, MIn: 16380, Len: 16380, CDrops: 3, TDrops: -7}
	if rows[1] != want {
		t.Errorf("%+v, want %+v", rows[1], want)
	}
	for _, tc := range []struct{ text, err string }{
		{"name bin\n", "header"},
		{FIFOsHeader + "\nx 1 2\n", "3 fields"},
		{FIFOsHeader + "\nx 1 2 3 4 5 6 7 z\n", "field 9"},
		{FIFOsHeader + "\n" + strings.Repeat("n", 65) + " 1 2 3 4 5 6 7 8\n", "name of 65"},
	} {
		if _, err := ParseFIFOs(tc.text); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%.40q: %v, want an error saying %q", tc.text, err, tc.err)
		}
	}
}

func TestReadSysFile(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok")
	os.WriteFile(ok, []byte("00000020\n"), 0o644)
	if s, err := ReadSysFile(ok); err != nil || s != "00000020\n" {
		t.Errorf("%q %v", s, err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, MaxSysFileBytes+1), 0o644)
	if _, err := ReadSysFile(big); !errors.Is(err, ErrSysFileTooLong) {
		t.Errorf("%v, want ErrSysFileTooLong", err)
	}
	if _, err := ReadSysFile(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%v, want not exist", err)
	}
}

// The fuzz targets parse anything without panicking, and whatever parses
// prints back (Append*) to text that parses to the same values.

func FuzzParseMFZID(f *testing.F) {
	f.Add("-1 0 \n")
	f.Add("815 17 phys\n")
	f.Add("815 17 a b\n\n")
	f.Add("+5 007 x\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseMFZID(text)
		if err != nil {
			return
		}
		again, err := ParseMFZID(string(AppendMFZID(nil, m)))
		if err != nil || again != m {
			t.Fatalf("%q: %+v printed back as %+v, %v", text, m, again, err)
		}
	})
}

func FuzzParseStatistics(f *testing.F) {
	f.Add(statisticsText)
	f.Add(StatisticsHeader + "\n7 1 2 3 4 5 6 7 8 9 10 -11\n")
	f.Fuzz(func(t *testing.T, text string) {
		rows, err := ParseStatistics(text)
		if err != nil {
			return
		}
		again, err := ParseStatistics(string(AppendStatistics(nil, rows)))
		if err != nil || !reflect.DeepEqual(again, rows) {
			t.Fatalf("%q: %+v printed back as %+v, %v", text, rows, again, err)
		}
	})
}

func FuzzParseFIFOs(f *testing.F) {
	f.Add(FIFOsHeader + "\nmUserIB-itc!flash 16380 0 16380 0 16380 0 3 -7\n")
	f.Add(FIFOsHeader + "\n\n a 1 2 3 4 5 6 7 8 \n")
	f.Fuzz(func(t *testing.T, text string) {
		rows, err := ParseFIFOs(text)
		if err != nil {
			return
		}
		again, err := ParseFIFOs(string(AppendFIFOs(nil, rows)))
		if err != nil || !reflect.DeepEqual(again, rows) {
			t.Fatalf("%q: %+v printed back as %+v, %v", text, rows, again, err)
		}
	})
}
