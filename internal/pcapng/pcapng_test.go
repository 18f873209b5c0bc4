package pcapng

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"
)

// block is one block as the test's reader sees it.
type block struct {
	typ  uint32
	body []byte // the fixed part of the body, as long as the type's
	data []byte // an EPB's packet bytes
	opts map[uint16][][]byte
}

// fixedLen is the length of each block type's fixed body.
var fixedLen = map[uint32]int{BlockSHB: 16, BlockIDB: 8, BlockEPB: 20, BlockISB: 12}

// readBlocks parses a little-endian pcapng stream strictly: lengths
// agree, padding is there, options end with opt_endofopt.
func readBlocks(b []byte) ([]block, error) {
	var out []block
	for len(b) > 0 {
		if len(b) < 12 {
			return nil, fmt.Errorf("%d bytes left, no block fits", len(b))
		}
		typ, n := le.Uint32(b), int(le.Uint32(b[4:]))
		if n%4 != 0 || n < 12 || n > len(b) || int(le.Uint32(b[n-4:])) != n {
			return nil, fmt.Errorf("block %#x: bad length %d", typ, n)
		}
		body := b[8 : n-4]
		b = b[n:]
		fl, ok := fixedLen[typ]
		if !ok || len(body) < fl {
			return nil, fmt.Errorf("block %#x: body of %d bytes", typ, len(body))
		}
		blk := block{typ: typ, body: body[:fl], opts: map[uint16][][]byte{}}
		rest := body[fl:]
		if typ == BlockEPB {
			capLen := int(le.Uint32(body[12:]))
			padded := (capLen + 3) &^ 3
			if padded > len(rest) {
				return nil, fmt.Errorf("EPB: %d captured bytes in %d", capLen, len(rest))
			}
			blk.data, rest = rest[:capLen], rest[padded:]
		}
		ended := len(rest) == 0
		for len(rest) > 0 {
			if len(rest) < 4 {
				return nil, fmt.Errorf("block %#x: option header cut", typ)
			}
			code, l := le.Uint16(rest), int(le.Uint16(rest[2:]))
			if code == OptEndOfOpt {
				if l != 0 || len(rest) != 4 {
					return nil, fmt.Errorf("block %#x: bytes after opt_endofopt", typ)
				}
				ended = true
				break
			}
			padded := (l + 3) &^ 3
			if 4+padded > len(rest) {
				return nil, fmt.Errorf("block %#x: option %d cut", typ, code)
			}
			blk.opts[code] = append(blk.opts[code], rest[4:4+l])
			rest = rest[4+padded:]
		}
		if !ended {
			return nil, fmt.Errorf("block %#x: options without opt_endofopt", typ)
		}
		out = append(out, blk)
	}
	return out, nil
}

func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "itcd test", Interface{LinkType: 154, SnapLen: 259, Name: "itc", Desc: "tile 0102"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 123_456_789)
	pkts := []Packet{
		{Time: t0, Data: []byte{1, 0, 2, 0, 0x82, 8}, Flags: FlagDirInbound},
		{Time: t0.Add(time.Millisecond), Data: bytes.Repeat([]byte{0xA6}, 259), Flags: FlagDirOutbound, Comment: "hi"},
		{Time: t0.Add(2 * time.Millisecond), Data: []byte{7}},
		{Time: t0.Add(3 * time.Millisecond), Data: nil, Comment: "héllo, a comment of odd length"},
	}
	for _, p := range pkts {
		if err := w.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteStats(Stats{Time: t0.Add(time.Second), Start: t0, End: t0.Add(time.Second), Received: 4, Dropped: 3, Comment: "3 lost"}); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(Packet{Interface: 1}); err == nil {
		t.Error("a packet on interface 1 of 1 was written")
	}
	blocks, err := readBlocks(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 2+len(pkts)+1 {
		t.Fatalf("%d blocks, want %d", len(blocks), 3+len(pkts))
	}
	shb := blocks[0]
	if shb.typ != BlockSHB || le.Uint32(shb.body) != ByteOrderMagic || le.Uint16(shb.body[4:]) != 1 || string(shb.opts[OptSHBUserAppl][0]) != "itcd test" {
		t.Errorf("SHB %+v", shb)
	}
	idb := blocks[1]
	if idb.typ != BlockIDB || le.Uint16(idb.body) != 154 || le.Uint32(idb.body[4:]) != 259 ||
		!bytes.Equal(idb.opts[OptIFTSResol][0], []byte{9}) || string(idb.opts[OptIFName][0]) != "itc" || string(idb.opts[OptIFDescription][0]) != "tile 0102" {
		t.Errorf("IDB %+v", idb)
	}
	for i, p := range pkts {
		e := blocks[2+i]
		ns := uint64(le.Uint32(e.body[4:]))<<32 | uint64(le.Uint32(e.body[8:]))
		if e.typ != BlockEPB || le.Uint32(e.body) != 0 || int64(ns) != p.Time.UnixNano() ||
			le.Uint32(e.body[16:]) != uint32(len(p.Data)) || !bytes.Equal(e.data, p.Data) {
			t.Errorf("EPB %d: %+v", i, e)
		}
		// The table of options: each present exactly when asked for.
		for _, o := range []struct {
			code uint16
			want []byte
		}{
			{OptEPBFlags, map[bool][]byte{true: binary.LittleEndian.AppendUint32(nil, p.Flags)}[p.Flags != 0]},
			{OptComment, map[bool][]byte{true: []byte(p.Comment)}[p.Comment != ""]},
		} {
			got := e.opts[o.code]
			if o.want == nil && got != nil || o.want != nil && (len(got) != 1 || !bytes.Equal(got[0], o.want)) {
				t.Errorf("EPB %d option %d: %q, want %q", i, o.code, got, o.want)
			}
		}
	}
	isb := blocks[len(blocks)-1]
	u64 := func(code uint16) uint64 { return le.Uint64(isb.opts[code][0]) }
	ts := func(code uint16) int64 {
		v := isb.opts[code][0]
		return int64(uint64(le.Uint32(v))<<32 | uint64(le.Uint32(v[4:])))
	}
	if isb.typ != BlockISB || u64(OptISBIfDrop) != 3 || u64(OptISBIfRecv) != 4 || string(isb.opts[OptComment][0]) != "3 lost" ||
		ts(OptISBStartTime) != t0.UnixNano() || ts(OptISBEndTime) != t0.Add(time.Second).UnixNano() {
		t.Errorf("ISB %+v", isb)
	}
}

func TestOptionTooLong(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "", Interface{LinkType: 154})
	if err != nil {
		t.Fatal(err)
	}
	n := buf.Len()
	err = w.WritePacket(Packet{Data: []byte{1}, Comment: string(make([]byte, maxOption+1))})
	if !errors.Is(err, ErrTooLong) || buf.Len() != n {
		t.Fatalf("a comment of %d bytes: %v, %d bytes written", maxOption+1, err, buf.Len()-n)
	}
	if err := w.WritePacket(Packet{Data: []byte{1}, Comment: "fine"}); err != nil {
		t.Fatal(err)
	}
	if _, err := readBlocks(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// FuzzWritePacket: every packet written reads back whole.
func FuzzWritePacket(f *testing.F) {
	f.Add([]byte{0x82, 8, 1}, uint32(1), "")
	f.Add([]byte{}, uint32(0), "odd")
	f.Fuzz(func(t *testing.T, data []byte, flags uint32, comment string) {
		if len(comment) > maxOption {
			return
		}
		var buf bytes.Buffer
		w, err := NewWriter(&buf, "", Interface{LinkType: 154})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(Packet{Time: time.Unix(0, 5), Data: data, Flags: flags, Comment: comment}); err != nil {
			t.Fatal(err)
		}
		blocks, err := readBlocks(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		e := blocks[len(blocks)-1]
		if !bytes.Equal(e.data, data) || comment != "" && string(e.opts[OptComment][0]) != comment {
			t.Fatalf("read back %+v", e)
		}
	})
}
