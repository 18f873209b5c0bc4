package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestRunDecode(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		stdin   string
		wantOut []string // JSON lines, in order
		wantErr []string // substrings of stderr lines, in order
		status  int
	}{
		{
			name:    "tep from args",
			args:    []string{"c4010201020304"},
			wantOut: []string{`{"hex":"c4010201020304","kind":"local","length":7,"local_type":"tep","event":"connect","event_dir":"ET","payload_len":4}`},
		},
		{
			name: "every kind",
			args: []string{"0x8608010203", "bf00", "41", "c350", "c1", "c2aabb", "C4020600112233445566778899"},
			wantOut: []string{
				`{"hex":"8608010203","kind":"service","length":5,"dir":"WT","overrun":false,"error":false,"service":8,"payload_len":3}`,
				`{"hex":"bf00","kind":"mfm","length":2,"dir":"NW","overrun":true,"error":true,"payload_len":1}`,
				`{"hex":"41","kind":"nonstandard","length":1,"ascii":"A","payload_len":0}`,
				`{"hex":"c350","kind":"local","length":2,"local_type":"control","payload_len":1}`,
				`{"hex":"c1","kind":"local","length":1,"local_type":"debug","payload_len":0}`,
				`{"hex":"c2aabb","kind":"local","length":3,"local_type":"labelled","payload_len":2}`,
				`{"hex":"c4020600112233445566778899","kind":"local","length":13,"local_type":"tep","event":"disconnect","event_dir":"WT","payload_len":10}`,
			},
		},
		{
			name: "separators and per-byte 0x",
			args: []string{"82 3f", "82:01:ff", "0x82 0x02", "0X9A\t0x01"},
			wantOut: []string{
				`{"hex":"823f","kind":"service","length":2,"dir":"ET","overrun":false,"error":false,"service":63,"payload_len":0}`,
				`{"hex":"8201ff","kind":"service","length":3,"dir":"ET","overrun":false,"error":false,"service":1,"payload_len":1}`,
				`{"hex":"8202","kind":"service","length":2,"dir":"ET","overrun":false,"error":false,"service":2,"payload_len":0}`,
				`{"hex":"9a01","kind":"service","length":2,"dir":"ET","overrun":true,"error":true,"service":1,"payload_len":0}`,
			},
		},
		{
			name: "ascii is escaped JSON, HTML left alone",
			args: []string{"3c", "0a", "22"},
			wantOut: []string{
				`{"hex":"3c","kind":"nonstandard","length":1,"ascii":"<","payload_len":0}`,
				`{"hex":"0a","kind":"nonstandard","length":1,"ascii":"\n","payload_len":0}`,
				`{"hex":"22","kind":"nonstandard","length":1,"ascii":"\"","payload_len":0}`,
			},
		},
		{
			name:    "bad args keep going",
			args:    []string{"8200", "41", "zz", "c", "", "c0", "e1", "c4", "c40502", "c40104", "c40109", "80 01", "82 41", "c5", "8201"},
			wantOut: []string{`"hex":"41"`, `"hex":"8201"`},
			wantErr: []string{
				"itcd decode: argument 1: packet: service 0 is null and illegal: use 1..63",
				"itcd decode: argument 3: bad hex",
				"itcd decode: argument 4: bad hex",
				"itcd decode: argument 5: packet: empty packet",
				"itcd decode: argument 6: packet: local type 0",
				"itcd decode: argument 7: packet: local packet has bit 5",
				"itcd decode: argument 8: packet: Tile Event Packet shorter than 3 bytes",
				"itcd decode: argument 9: packet: Tile Event Packet has an illegal or reserved event",
				"itcd decode: argument 10: packet: Tile Event Packet names a direction with no link",
				"itcd decode: argument 11: packet: direction out of range",
				"itcd decode: argument 12: packet: routed packet names direction NT or ST",
				"itcd decode: argument 13: packet: reserved bits",
				"itcd decode: argument 14: packet: local type is reserved",
			},
			status: 2,
		},
		{
			name:    "too long",
			args:    []string{strings.Repeat("41", 256), strings.Repeat("41", 255)},
			wantOut: []string{`"length":255,"ascii":"A","payload_len":254`},
			wantErr: []string{"itcd decode: argument 1: packet: longer than 255 bytes"},
			status:  2,
		},
		{
			name:  "stdin",
			stdin: "# captured on tile 3\n\nc4 01 02\n  \n   # indented comment\r\n8200\n0xa1\r\nxyz\n",
			wantOut: []string{
				`{"hex":"c40102","kind":"local","length":3,"local_type":"tep","event":"connect","event_dir":"ET","payload_len":0}`,
				`{"hex":"a1","kind":"mfm","length":1,"dir":"NE","overrun":false,"error":false,"payload_len":0}`,
			},
			wantErr: []string{
				"itcd decode: line 6: packet: service 0 is null and illegal: use 1..63",
				"itcd decode: line 8: bad hex",
			},
			status: 2,
		},
		{
			name:    "stdin all good, no final newline",
			stdin:   "41\nc1",
			wantOut: []string{`"hex":"41"`, `"hex":"c1"`},
		},
		{
			name:  "empty stdin",
			stdin: "",
		},
		{
			name:  "args win over stdin",
			args:  []string{"41"},
			stdin: "zz\n",
			wantOut: []string{
				`{"hex":"41","kind":"nonstandard","length":1,"ascii":"A","payload_len":0}`,
			},
		},
		{
			name:    "help",
			args:    []string{"-h"},
			wantOut: []string{"usage: itcd decode [HEX...]"},
		},
		{
			name:    "unknown flag",
			args:    []string{"-x", "41"},
			wantErr: []string{"flag provided but not defined: -x", "usage: itcd decode"},
			status:  2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			status := runDecode(tc.args, strings.NewReader(tc.stdin), &out, &errb)
			if status != tc.status {
				t.Errorf("status = %d, want %d\nstderr:\n%s", status, tc.status, errb.String())
			}
			checkLines(t, "stdout", out.String(), tc.wantOut)
			checkLines(t, "stderr", errb.String(), tc.wantErr)
		})
	}
}

// checkLines checks that text holds, in order, lines containing each of
// want; when a want is a whole JSON object the line must equal it. For
// output lines that are JSON objects, every line must be matched.
func checkLines(t *testing.T, name, text string, want []string) {
	t.Helper()
	var lines []string
	if text != "" {
		lines = strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	}
	i := 0
	for _, w := range want {
		for i < len(lines) && !matches(lines[i], w) {
			if name == "stdout" && strings.HasPrefix(lines[i], "{") {
				t.Fatalf("%s line %d = %s\nwant %s", name, i+1, lines[i], w)
			}
			i++
		}
		if i == len(lines) {
			t.Fatalf("%s: no line matching %q in order; got:\n%s", name, w, text)
		}
		i++
	}
	if len(want) == 0 && text != "" {
		t.Fatalf("%s: want nothing, got:\n%s", name, text)
	}
	for ; name == "stdout" && i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "{") {
			t.Fatalf("%s: unexpected extra line %s", name, lines[i])
		}
	}
}

func matches(line, want string) bool {
	if strings.HasPrefix(want, "{") {
		return line == want
	}
	return strings.Contains(line, want)
}

// TestDecodeJSONValid: every output line is a JSON object with the fields
// that always apply.
func TestDecodeJSONValid(t *testing.T) {
	var out bytes.Buffer
	in := "41\n8201\nbf\nc1\nc2\nc350\nc40107aabb\n"
	if st := runDecode(nil, strings.NewReader(in), &out, &bytes.Buffer{}); st != 0 {
		t.Fatalf("status %d", st)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		for _, k := range []string{"hex", "kind", "length", "payload_len"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %q has no %q", line, k)
			}
		}
		n++
	}
	if n != 7 {
		t.Fatalf("%d lines, want 7", n)
	}
}

func TestDecodeRegistered(t *testing.T) {
	c, ok := commands["decode"]
	if !ok || c.summary == "" || c.run == nil {
		t.Fatalf("decode is not registered: %+v", c)
	}
}
