package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/pcapng"
	"github.com/t2tiles/itcd/itc/packet"
)

// How a capture stream from a daemon becomes a pcapng file that
// Wireshark opens with dist/wireshark/itc.lua (notes/protocol.md,
// "Packet captures"): one interface of link type LINKTYPE_USER7 (154),
// and each packet an EPB whose bytes are a 4-byte pseudo-header and then
// the packet as it was read or written:
//
//	byte 0: 1      pseudo-header version
//	byte 1: TRAVEL 0 in (read from the device), 1 out (written to it),
//	               2 event (a TEP the daemon gave its clients)
//	byte 2: LINK   dir8 of the link, 0xFF for none
//	byte 3: 0      reserved
//
// epb_flags says in (inbound) or out (outbound) too, for tools that
// know no dissector; events have none. At the end an ISB counts the
// packets written (isb_ifrecv) and lost (isb_ifdrop) and says so in a
// comment.

// LinkTypeITC is the pcapng link type of an itcd capture: LINKTYPE_USER7,
// one of the 16 link types (147..162) kept for private use. Not USER0,
// which other private dissectors take first.
const LinkTypeITC = 154

// pseudoLen is the length of the pseudo-header before each packet.
const pseudoLen = 4

// captureEndWait bounds the wait for the daemon's end record after a
// capture is stopped: what it queued (at most control.CaptureQueue
// records) arrives first.
const captureEndWait = 10 * time.Second

// captureResult is what a capture did.
type captureResult struct {
	written uint64
	lost    uint64 // lost in the daemon, as its last record said
	ended   bool   // the end record arrived, so lost is final
	start   time.Time
}

// lostNote is the sentence on losses for the file's comment and stderr.
func (r captureResult) lostNote() string {
	s := fmt.Sprintf("%d packets captured, %d lost", r.written, r.lost)
	if r.lost > 0 {
		s += " (the capture could not keep up: the daemon's queue for it was full)"
	}
	if !r.ended {
		s += "; the daemon sent no final count, so more may be lost"
	}
	return s
}

// pcapSink writes records as pcapng into w; flush, if set, is called
// after every packet (for `-w -`, so Wireshark shows each as it comes).
type pcapSink struct {
	w     *pcapng.Writer
	flush func() error
	buf   [pseudoLen + packet.MaxLen]byte
}

func newPcapSink(w io.Writer, info control.CaptureInfo, source string, flush func() error) (*pcapSink, error) {
	pw, err := pcapng.NewWriter(w, "itcd capture", pcapng.Interface{
		LinkType: LinkTypeITC,
		SnapLen:  pseudoLen + packet.MaxLen,
		Name:     "itc",
		Desc:     fmt.Sprintf("itcd tile %s, %s device, %s", info.Tile, info.Device, source),
	})
	if err != nil {
		return nil, err
	}
	return &pcapSink{w: pw, flush: flush}, nil
}

func (s *pcapSink) packet(r control.Record) error {
	b := append(s.buf[:0], 1, byte(r.Travel), r.Link, 0)
	b = append(b, r.Data...)
	var flags uint32
	switch r.Travel {
	case control.TravelIn:
		flags = pcapng.FlagDirInbound
	case control.TravelOut:
		flags = pcapng.FlagDirOutbound
	}
	if err := s.w.WritePacket(pcapng.Packet{Time: r.Time, Data: b, Flags: flags}); err != nil {
		return err
	}
	if s.flush != nil {
		return s.flush()
	}
	return nil
}

// end writes the statistics block: counts and the comment on losses.
func (s *pcapSink) end(res captureResult) error {
	now := time.Now()
	return s.w.WriteStats(pcapng.Stats{Time: now, Start: res.start, End: now, Received: res.written, Dropped: res.lost, Comment: "itcd capture: " + res.lostNote()})
}

// pumpCapture moves records from st to sink until ctx ends or count
// packets are written (0: no limit), then stops the stream and reads on
// to the end record. It returns what it did; an error is the stream's or
// the sink's.
func pumpCapture(ctx context.Context, st *control.CaptureStream, count uint64, sink func(control.Record) error) (captureResult, error) {
	res := captureResult{start: time.Now()}
	stopped := make(chan struct{})
	var once sync.Once
	stop := func() {
		once.Do(func() {
			st.Stop()
			st.SetDeadline(time.Now().Add(captureEndWait))
			close(stopped)
		})
	}
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-stopped:
		}
	}()
	defer stop()
	for {
		r, err := st.Next()
		if err != nil {
			return res, err
		}
		res.lost = r.Lost
		if r.Type == control.RecordEnd {
			res.ended = true
			return res, nil
		}
		if count > 0 && res.written >= count {
			continue // stopped: read on to the end record
		}
		if err := sink(r); err != nil {
			return res, err
		}
		res.written++
		if count > 0 && res.written == count {
			stop()
		}
	}
}

// atomicFile is a file written under a temporary name beside its final
// one and renamed at the end, so no half-written capture is ever seen
// under the name.
type atomicFile struct {
	f    *os.File
	w    *bufio.Writer
	path string
}

func createAtomic(path string) (*atomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	// As tcpdump's: readable by others (CreateTemp makes it 0600).
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &atomicFile{f: f, w: bufio.NewWriterSize(f, 64<<10), path: path}, nil
}

// commit flushes, syncs and renames the file into place.
func (a *atomicFile) commit() error {
	err := a.w.Flush()
	if err == nil {
		err = a.f.Sync()
	}
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(a.f.Name(), a.path)
	}
	if err != nil {
		os.Remove(a.f.Name())
	}
	return err
}

// abort removes the temporary file.
func (a *atomicFile) abort() {
	a.f.Close()
	os.Remove(a.f.Name())
}
