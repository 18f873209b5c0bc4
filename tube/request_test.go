package tube

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		in   string
		want Request
		err  string
	}{
		{"open ET 7", Request{Dir: packet.ET, Port: 7}, ""},
		{"open nw 65535 message acks timeout=500ms", Request{Dir: packet.NW, Port: 65535, Message: true, Acks: true, Timeout: 500 * time.Millisecond}, ""},
		{"accept 7 acks from=SW timeout=1h0m0s", Request{Accept: true, Port: 7, Acks: true, From: packet.SW, Timeout: time.Hour}, ""},
		{"accept 1", Request{Accept: true, Port: 1}, ""},
		{"open NT 7", Request{}, "not a link"},
		{"open ET 0", Request{}, "want 1..65535"},
		{"open ET 65536", Request{}, "want 1..65535"},
		{"open ET 07", Request{}, "want 1..65535"},
		{"open ET 7 timeout=6m", Request{}, "at most 5m"},
		{"open ET 7 timeout=-1s", Request{}, "positive"},
		{"open ET 7 from=ET", Request{}, "unknown option"},
		{"accept 7 from=ST", Request{}, "not a link"},
		{"accept 7 acks acks", Request{}, "twice"},
		{"accept 7  acks", Request{Accept: true, Port: 7, Acks: true}, ""}, // spaces as a person types them
		{"listen 7", Request{}, "want 'open"},
		{"", Request{}, "want 'open"},
		{"open ET 7 " + strings.Repeat("x", 300), Request{}, "at most 256"},
	}
	for _, tc := range tests {
		got, err := ParseRequest([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if back := string(got.AppendText(nil)); !strings.EqualFold(back, strings.Join(strings.Fields(tc.in), " ")) {
			t.Errorf("%q: encodes as %q", tc.in, back)
		}
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		in   string
		want Reply
		err  error
	}{
		{"ok 3 ET 5f2c9a01 49153 7 stream 32768", Reply{ID: 3, Dir: packet.ET, Tile: "5f2c9a01", LocalPort: 49153, RemotePort: 7, Window: 32768}, nil},
		{"ok 0 NW t 7 7 message 1", Reply{Dir: packet.NW, Tile: "t", LocalPort: 7, RemotePort: 7, Message: true, Window: 1}, nil},
		{"error no neighbour at ET", Reply{}, ErrRefused},
		{"ok 3 NT 5f 1 7 stream 32768", Reply{}, ErrProtocol},
		{"ok 3 et 5f 1 7 stream 32768", Reply{}, ErrProtocol},
		{"ok 3 ET 5f 1 7 bytes 32768", Reply{}, ErrProtocol},
		{"ok 3 ET 5f 1 7 stream 0", Reply{}, ErrProtocol},
		{"ok 3 ET 5f 1 7 stream 16777217", Reply{}, ErrProtocol},
		{"ok 3 ET 5f 0 7 stream 10", Reply{}, ErrProtocol},
		{"ok 3 ET 5f 1 7 stream", Reply{}, ErrProtocol},
		{"ok -3 ET 5f 1 7 stream 10", Reply{}, ErrProtocol},
		{"yes", Reply{}, ErrProtocol},
	}
	for _, tc := range tests {
		got, err := ParseReply("open", []byte(tc.in))
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v, %v", tc.in, got, err, tc.want, tc.err)
		}
		if err == nil && string(got.AppendText(nil)) != tc.in {
			t.Errorf("%q: encodes as %q", tc.in, got.AppendText(nil))
		}
	}
	_, err := ParseReply("accept", []byte("error port 7 is busy"))
	var te *Error
	if !errors.As(err, &te) || te.Reason != "port 7 is busy" || te.Op != "accept" {
		t.Fatalf("got %v", err)
	}
}

func TestParseFrame(t *testing.T) {
	tests := []struct {
		in   []byte
		want Frame
		ok   bool
	}{
		{[]byte("dabc"), Frame{Type: 'd', Data: []byte("abc")}, true},
		{[]byte("d"), Frame{Type: 'd', Data: []byte{}}, true}, // an empty message
		{[]byte("e"), Frame{Type: 'e'}, true},
		{[]byte("c"), Frame{Type: 'c'}, true},
		{AppendCount(nil, 'v', 1<<40), Frame{Type: 'v', Count: 1 << 40}, true},
		{AppendCount(nil, 'r', 5), Frame{Type: 'r', Count: 5}, true},
		{[]byte("xgone"), Frame{Type: 'x', Data: []byte("gone")}, true},
		{[]byte("ee"), Frame{}, false},
		{[]byte("v1234"), Frame{}, false},
		{[]byte("a12345678"), Frame{}, false}, // a client's frame
		{nil, Frame{}, false},
		{append([]byte{'d'}, make([]byte, MaxMessage+1)...), Frame{}, false},
	}
	for _, tc := range tests {
		got, err := ParseFrame(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: error %v", tc.in, err)
			continue
		}
		if tc.ok && (got.Type != tc.want.Type || got.Count != tc.want.Count || !bytes.Equal(got.Data, tc.want.Data)) {
			t.Errorf("%q: got %+v", tc.in, got)
		}
	}
	long, _ := ParseFrame(append([]byte{'x'}, make([]byte, 2000)...))
	if len(long.Data) != maxReason {
		t.Errorf("reason kept %d bytes", len(long.Data))
	}
}

// The fuzz targets check that whatever parses encodes to bytes that
// parse the same (and for the reply and frames, to the same bytes).

func FuzzRequest(f *testing.F) {
	for _, s := range []string{"open ET 7", "accept 9 message acks from=NW timeout=1m30s", "open SE 65535 timeout=1ns", "accept 1 from=2"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err != nil {
			return
		}
		enc := r.AppendText(nil)
		if len(enc) > MaxRequest {
			t.Fatalf("%q encodes longer than a request may be: %q", b, enc)
		}
		r2, err := ParseRequest(enc)
		if err != nil || r2 != r {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", b, r, enc, r2, err)
		}
	})
}

func FuzzReply(f *testing.F) {
	for _, s := range []string{"ok 3 ET 5f2c9a01 49153 7 stream 32768", "ok 18446744073709551615 NW a 1 65535 message 16777216", "error x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReply("open", b)
		if err != nil {
			return
		}
		enc := r.AppendText(nil)
		if !bytes.Equal(enc, b) {
			t.Fatalf("%q -> %+v -> %q", b, r, enc)
		}
	})
}

func FuzzFrame(f *testing.F) {
	for _, b := range [][]byte{[]byte("dxy"), []byte("e"), []byte("c"), AppendCount(nil, 'v', 9), []byte("xwhy")} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrame(b)
		if err != nil {
			return
		}
		enc := fr.AppendFrame(nil)
		if !bytes.Equal(enc, b) && !(fr.Type == FrameAbort && len(b) > 1+maxReason) {
			t.Fatalf("%q -> %+v -> %q", b, fr, enc)
		}
	})
}

// An open is to a link or to a tile; anything else is refused by name.
func TestParseTarget(t *testing.T) {
	for _, c := range []struct {
		in   string
		dir  packet.Dir
		tile string
		ok   bool
	}{
		{"ET", packet.ET, "", true},
		{"ET,", 0, "", false},
		{"ET,SE", 0, "ET,SE", true},
		{"a1b2", 0, "a1b2", true},
		{"a1b", 0, "", false},
		{"xyzw", 0, "", false},
	} {
		d, tile, err := ParseTarget(c.in)
		if (err == nil) != c.ok || err == nil && (d != c.dir || tile != c.tile) {
			t.Errorf("ParseTarget(%q) = %v, %q, %v", c.in, d, tile, err)
		}
		if err != nil && !strings.Contains(err.Error(), c.in) {
			t.Errorf("ParseTarget(%q): the error does not name it: %v", c.in, err)
		}
	}
}
