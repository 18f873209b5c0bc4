package counter

import (
	"bytes"
	"encoding/hex"
	"math"
	"testing"
)

func TestValueWireForm(t *testing.T) {
	for _, tc := range []struct {
		v    int64
		want string
	}{
		{0, "01 0000000000000000"},
		{258, "01 0000000000000102"},
		{-1, "01 ffffffffffffffff"},
		{math.MaxInt64, "01 7fffffffffffffff"},
		{math.MinInt64, "01 8000000000000000"},
	} {
		got := appendValue(nil, tc.v)
		want, _ := hex.DecodeString(string(bytes.ReplaceAll([]byte(tc.want), []byte(" "), nil)))
		if !bytes.Equal(got, want) {
			t.Errorf("appendValue(%d) = %x, want %x", tc.v, got, want)
		}
		m, err := parseMessage(got)
		if err != nil || m.kind != msgValue || m.value != tc.v {
			t.Errorf("parseMessage(%x) = %+v, %v; want value %d", got, m, err, tc.v)
		}
	}
}

func TestParseMessage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hex   string
		want  message
		fails bool
	}{
		{"ask", "02", message{kind: msgAsk}, false},
		{"ask with trailing bytes", "02ff", message{kind: msgAsk}, false},
		{"value with trailing bytes", "01000000000000002a00ff", message{kind: msgValue, value: 42}, false},
		{"empty", "", message{}, true},
		{"value too short", "0100000000000000", message{}, true},
		{"type only", "01", message{}, true},
		{"type 0", "00", message{}, true},
		{"unknown type", "03000000000000002a", message{}, true},
	} {
		b, _ := hex.DecodeString(tc.hex)
		got, err := parseMessage(b)
		if (err != nil) != tc.fails || got != tc.want {
			t.Errorf("%s: parseMessage(%s) = %+v, %v", tc.name, tc.hex, got, err)
		}
	}
}

// FuzzParseMessage checks that any payload parses without panic and that a
// value message reads back what appendValue wrote.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte{msgValue, 0, 0, 0, 0, 0, 0, 0, 42})
	f.Add([]byte{msgAsk})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			return
		}
		if m.kind == msgValue && !bytes.Equal(appendValue(nil, m.value), b[:valueLen]) {
			t.Fatalf("value %d does not re-encode to %x", m.value, b[:valueLen])
		}
	})
}
