package control

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []Record{
		{Type: RecordPacket, Travel: TravelIn, Link: 2, Time: time.Unix(1700000000, 123456789), Lost: 0, Data: []byte{0x82, 8, 1}},
		{Type: RecordPacket, Travel: TravelOut, Link: NoLink, Time: time.Unix(0, 1), Lost: 1 << 40, Data: bytes.Repeat([]byte{0xA6}, 255)},
		{Type: RecordPacket, Travel: TravelEvent, Link: 6, Time: time.Unix(5, 0), Data: []byte{0xC4, 1, 6, 1, 2, 3, 4, 5, 6, 7, 8}},
		{Type: RecordEnd, Link: NoLink, Time: time.Unix(9, 9), Lost: 42},
	} {
		b, err := AppendRecord(nil, &r)
		if err != nil {
			t.Fatal(err)
		}
		got, n, err := ParseRecordHeader(b)
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		got.Data = b[RecordHeaderLen : RecordHeaderLen+n]
		if got.Type != r.Type || got.Travel != r.Travel || got.Link != r.Link || !got.Time.Equal(r.Time) || got.Lost != r.Lost || !bytes.Equal(got.Data, r.Data) || len(b) != RecordHeaderLen+len(r.Data) {
			t.Errorf("round trip of %+v gave %+v", r, got)
		}
	}
	if _, err := AppendRecord(nil, &Record{Type: RecordPacket, Data: make([]byte, 256)}); !errors.Is(err, ErrBadRecord) {
		t.Errorf("a 256-byte packet: %v", err)
	}
}

func TestRecordHeaderFaults(t *testing.T) {
	good, _ := AppendRecord(nil, &Record{Type: RecordPacket, Link: 2, Data: []byte{1}})
	for _, tc := range []struct {
		name string
		edit func(b []byte) []byte
	}{
		{"short", func(b []byte) []byte { return b[:RecordHeaderLen-1] }},
		{"type 0", func(b []byte) []byte { b[0] = 0; return b }},
		{"type 3", func(b []byte) []byte { b[0] = 3; return b }},
		{"travel 3", func(b []byte) []byte { b[1] = 3; return b }},
		{"link 8", func(b []byte) []byte { b[2] = 8; return b }},
		{"end with bytes", func(b []byte) []byte { b[0] = RecordEnd; return b }},
	} {
		b := tc.edit(append([]byte(nil), good...))
		if _, _, err := ParseRecordHeader(b); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: %v, want ErrBadRecord", tc.name, err)
		}
	}
}

// FuzzRecord: whatever parses re-encodes to the same header.
func FuzzRecord(f *testing.F) {
	for _, r := range []Record{
		{Type: RecordPacket, Travel: TravelIn, Link: 2, Time: time.Unix(1, 2), Data: []byte{0x82, 8}},
		{Type: RecordEnd, Link: NoLink, Lost: 7},
	} {
		b, _ := AppendRecord(nil, &r)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := ParseRecordHeader(b)
		if err != nil {
			return
		}
		if n > 255 {
			t.Fatalf("length %d", n)
		}
		if len(b) < RecordHeaderLen+n {
			return
		}
		r.Data = b[RecordHeaderLen : RecordHeaderLen+n]
		out, err := AppendRecord(nil, &r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, b[:RecordHeaderLen+n]) {
			t.Fatalf("re-encoded % x, parsed % x", out, b[:RecordHeaderLen+n])
		}
	})
}
