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
		got := AppendValue(nil, tc.v)
		want, _ := hex.DecodeString(string(bytes.ReplaceAll([]byte(tc.want), []byte(" "), nil)))
		if !bytes.Equal(got, want) {
			t.Errorf("AppendValue(%d) = %x, want %x", tc.v, got, want)
		}
		m, err := ParseMessage(got)
		if err != nil || m.Kind != MsgValue || m.Value != tc.v {
			t.Errorf("ParseMessage(%x) = %+v, %v; want value %d", got, m, err, tc.v)
		}
	}
}

func TestParseMessage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hex   string
		want  Message
		fails bool
	}{
		{"ask", "02", Message{Kind: MsgAsk}, false},
		{"ask with trailing bytes", "02ff", Message{Kind: MsgAsk}, false},
		{"value with trailing bytes", "01000000000000002a00ff", Message{Kind: MsgValue, Value: 42}, false},
		{"empty", "", Message{}, true},
		{"value too short", "0100000000000000", Message{}, true},
		{"type only", "01", Message{}, true},
		{"type 0", "00", Message{}, true},
		{"unknown type", "03000000000000002a", Message{}, true},
	} {
		b, _ := hex.DecodeString(tc.hex)
		got, err := ParseMessage(b)
		if (err != nil) != tc.fails || got != tc.want {
			t.Errorf("%s: ParseMessage(%s) = %+v, %v", tc.name, tc.hex, got, err)
		}
	}
}

// FuzzParseMessage checks that any payload parses without panic and that a
// value message reads back what AppendValue wrote.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte{MsgValue, 0, 0, 0, 0, 0, 0, 0, 42})
	f.Add([]byte{MsgAsk})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		if m.Kind == MsgValue && !bytes.Equal(AppendValue(nil, m.Value), b[:valueLen]) {
			t.Fatalf("value %d does not re-encode to %x", m.Value, b[:valueLen])
		}
	})
}
