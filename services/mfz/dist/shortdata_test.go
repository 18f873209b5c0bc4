package dist

import (
	"bytes"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// A sender answers a REQUESTS entry flagged short with SHORT DATA for the
// chunks that form can name (0..15) and with DATA for the rest; an entry
// not flagged gets DATA only, as every tile before SHORT DATA expects.
func TestShortDataServedWhenAsked(t *testing.T) {
	x := newHarness(t, packet.ET)
	f := x.held(x.pack("a.mfz", 1, 8*1024, 4096)) // blocks of 17 chunks
	x.h.take(t, packet.ET)
	list := appendRequestEntry(nil, requestMsg{handle: f.handle, block: 0, chunk: 14, count: 3, short: true})
	x.in(packet.ET, (&requestsMsg{seq: 1, list: list}).append(nil))
	list = appendRequestEntry(nil, requestMsg{handle: f.handle, block: 1, chunk: 0, count: 2})
	x.in(packet.ET, (&requestsMsg{seq: 2, list: list}).append(nil))
	x.turn()
	type sent struct {
		typ                 byte
		block, chunk, bytes int
	}
	var got []sent
	for _, m := range x.h.take(t, packet.ET) {
		if m.typ == msgData || m.typ == msgShortData {
			got = append(got, sent{m.typ, int(m.data.block), int(m.data.chunk), len(m.data.data)})
		}
	}
	want := []sent{
		{msgShortData, 0, 14, ChunkLen}, {msgShortData, 0, 15, ChunkLen}, {msgData, 0, 16, 4096 - 16*ChunkLen},
		{msgData, 1, 0, ChunkLen}, {msgData, 1, 1, ChunkLen},
	}
	if len(got) != len(want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sent %v, want %v", got, want)
		}
	}
}

// A receiver flags its entries short only to a sender that announces
// flagShortData, and a file answered in SHORT DATA completes byte for
// byte.
func TestShortDataReceived(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 24*1024, 2048) // 12 blocks of 9 chunks
	f := x.receiving(sf, packet.ET, 9)
	x.in(packet.ET, appendAnnounce(nil, 9, flagComplete|flagsServed, sf.m.Version, sf.m.BlockCount(), sf.m.BlockCount(), sf.id, sf.m.Name))
	x.turn()
	for round := 0; round < 2000 && f.nhave < f.blocks; round++ {
		for _, m := range x.h.take(t, packet.ET) {
			if m.typ != msgRequests {
				continue
			}
			r := entriesOf(&m.requests)[0] // the newest; lossless, no repeats matter
			if r.count == 0 {
				continue // a guard's mark: unanswered, it only shows nothing
			}
			if !r.short {
				t.Fatalf("entry %+v not flagged short to a sender that serves SHORT DATA", r)
			}
			for c := int(r.chunk); c < int(r.chunk)+int(r.count); c++ {
				x.in(packet.ET, appendChunk(nil, 9, int(r.block), c, sf.chunk(int(r.block), c), true))
			}
		}
		x.advance(5 * time.Millisecond)
	}
	if f.nhave != f.blocks {
		t.Fatalf("held %d of %d blocks", f.nhave, f.blocks)
	}
	// The final check reads the whole file against its signed hashes.
	x.waitDone(f)
	if e, ok := x.s.store.Lookup("a.mfz"); !ok || e.Version != 1 {
		t.Fatal("the file received in SHORT DATA was not installed")
	}
}

// FuzzShortData: parseShortData takes any body of at least three bytes,
// and what it takes is written back byte for byte; fields a SHORT DATA
// can carry come back from parse(append) unchanged.
func FuzzShortData(f *testing.F) {
	f.Add(uint8(3), []byte{0xF0, 0x0C, 1, 2, 3}, uint16(4095), uint16(15))
	f.Add(uint8(0), []byte{0, 0}, uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, h uint8, body []byte, block, chunk uint16) {
		if len(body) > maxMsg {
			return
		}
		if m, err := parseShortData(h, body); err == nil {
			if m.chunk >= maxShortChunk || m.block >= 4096 || len(m.data) == 0 || !m.short {
				t.Fatalf("parsed %+v", m)
			}
			want := seal(append([]byte{msgShortData, h}, body...))
			if got := m.append(nil); !bytes.Equal(got, want) {
				t.Fatalf("append(parse(% x)) = % x", body, got)
			}
		} else if len(body) >= 3 {
			t.Fatalf("a body of %d bytes refused: %v", len(body), err)
		}
		h, block, chunk = min(h, maxHandle), block%4096, chunk%maxShortChunk
		data := body[:min(len(body), ChunkLen)]
		b := appendChunk(nil, h, int(block), int(chunk), data, true)
		m, err := parseMessage(b)
		if len(data) == 0 {
			if err != nil || m.typ != msgData {
				t.Fatalf("an empty chunk sent as type %d (%v), want a DATA", m.typ, err)
			}
			return
		}
		if err != nil || m.typ != msgShortData || m.data.block != block || m.data.chunk != chunk || !bytes.Equal(m.data.data, data) {
			t.Fatalf("block %d chunk %d: parsed %+v, %v", block, chunk, m, err)
		}
	})
}
