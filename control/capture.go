package control

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// The "capture" command turns a control.sock connection into a stream
// of the packets the daemon reads from and writes to its device. The
// request is the usual JSON line, {"cmd":"capture","args":CaptureArgs};
// the answer is the usual JSON line, with a CaptureInfo as result. After
// an OK answer the daemon writes only capture records, in binary, until
// the client shuts down its side of the connection (or the daemon
// stops); it then writes one end record and closes.
//
// A record is a 20-byte header and the packet:
//
//	byte 0:      TYPE   1 packet, 2 end (no packet bytes follow)
//	byte 1:      TRAVEL 0 in (read from the device), 1 out (written to
//	                    it), 2 event (a TEP the daemon gave its clients)
//	byte 2:      LINK   dir8 of the link, 0xFF when the packet has none
//	byte 3:      LEN    packet bytes that follow, 0..255
//	byte 4..11:  TIME   unix nanoseconds, big-endian
//	byte 12..19: LOST   packets this capture lost so far: big-endian u64
//	byte 20..:   the packet, LEN bytes
//
// The daemon never waits for a capture: each one has a bounded queue
// (CaptureQueue records), and a packet that finds it full is lost to the
// capture alone and counted in LOST.

// CaptureCmd is the control command that starts a capture stream.
const CaptureCmd = "capture"

// Record types.
const (
	RecordPacket = 1
	RecordEnd    = 2
)

// Travel says which way a captured packet went.
type Travel uint8

const (
	TravelIn    Travel = 0 // read from the device
	TravelOut   Travel = 1 // written to the device
	TravelEvent Travel = 2 // a Tile Event Packet the daemon gave its clients
)

var travelNames = [...]string{"in", "out", "event"}

func (t Travel) String() string {
	if int(t) < len(travelNames) {
		return travelNames[t]
	}
	return fmt.Sprintf("travel(%d)", uint8(t))
}

// NoLink is the LINK byte of a packet that belongs to no link.
const NoLink = 0xFF

// RecordHeaderLen is the length of a record's header.
const RecordHeaderLen = 20

// MaxCaptures is how many captures a daemon runs at once.
const MaxCaptures = 4

// CaptureQueue is how many records each capture's queue holds in the
// daemon: a third of a second of every link busy both ways.
const CaptureQueue = 1024

// CaptureArgs chooses what a capture gets; empty lists mean everything.
// The daemon filters, so packets nobody asked for cost no copy and no
// place in the capture's queue.
type CaptureArgs struct {
	// Links lists the links whose packets are captured; a packet of
	// no link (a local packet from the device) is then left out.
	Links []packet.Dir `json:"links,omitempty"`
	// Kinds lists the kinds captured: "mfm", "service", "local" (local
	// and non-standard packets, and the TEPs the daemon gives out).
	Kinds []string `json:"kinds,omitempty"`
}

// CaptureKinds are the names CaptureArgs.Kinds takes.
var CaptureKinds = []string{"mfm", "service", "local"}

// CaptureInfo is the answer to a capture request.
type CaptureInfo struct {
	Tile   string `json:"tile"`   // the daemon's tile identity
	Device string `json:"device"` // its device name ("kernel", "udp")
	Queue  int    `json:"queue"`  // records its queue for this capture holds
}

// Record is one captured packet, or the end of the stream.
type Record struct {
	Type   uint8
	Travel Travel
	Link   uint8 // dir8, or NoLink
	Time   time.Time
	Lost   uint64 // the capture's losses so far
	Data   []byte // aliases the reader's buffer until the next Next
}

// ErrBadRecord is the stream's answer to bytes that are not a record.
var ErrBadRecord = errors.New("capture: malformed record")

// AppendRecord appends r's header and data to dst.
func AppendRecord(dst []byte, r *Record) ([]byte, error) {
	if len(r.Data) > packet.MaxLen {
		return dst, fmt.Errorf("%w: %d packet bytes", ErrBadRecord, len(r.Data))
	}
	dst = append(dst, r.Type, byte(r.Travel), r.Link, byte(len(r.Data)))
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.Time.UnixNano()))
	dst = binary.BigEndian.AppendUint64(dst, r.Lost)
	return append(dst, r.Data...), nil
}

// ParseRecordHeader reads a record's header; the packet's LEN bytes
// follow it.
func ParseRecordHeader(h []byte) (r Record, n int, err error) {
	if len(h) < RecordHeaderLen {
		return r, 0, fmt.Errorf("%w: header of %d bytes", ErrBadRecord, len(h))
	}
	r.Type, r.Travel, r.Link, n = h[0], Travel(h[1]), h[2], int(h[3])
	switch {
	case r.Type != RecordPacket && r.Type != RecordEnd:
		return r, 0, fmt.Errorf("%w: type %d", ErrBadRecord, r.Type)
	case r.Travel > TravelEvent:
		return r, 0, fmt.Errorf("%w: travel %d", ErrBadRecord, r.Travel)
	case r.Link != NoLink && r.Link > 7:
		return r, 0, fmt.Errorf("%w: link %d", ErrBadRecord, r.Link)
	case r.Type == RecordEnd && n != 0:
		return r, 0, fmt.Errorf("%w: end record with %d bytes", ErrBadRecord, n)
	}
	r.Time = time.Unix(0, int64(binary.BigEndian.Uint64(h[4:12])))
	r.Lost = binary.BigEndian.Uint64(h[12:20])
	return r, n, nil
}

// CaptureStream reads the records of a capture.
type CaptureStream struct {
	c    *Client
	buf  [RecordHeaderLen + packet.MaxLen]byte
	Info CaptureInfo
	done bool
}

// Capture asks the daemon for a capture stream. The Client is the
// stream's from then on: no other Call may follow.
func (cc *Client) Capture(args CaptureArgs) (*CaptureStream, error) {
	s := &CaptureStream{c: cc}
	if err := cc.Call(CaptureCmd, args, &s.Info); err != nil {
		return nil, err
	}
	return s, nil
}

// Next returns the next record. After the end record it returns io.EOF.
// A deadline (SetDeadline) that passes makes it return an error that
// wraps os.ErrDeadlineExceeded.
func (s *CaptureStream) Next() (Record, error) {
	if s.done {
		return Record{}, io.EOF
	}
	h := s.buf[:RecordHeaderLen]
	if _, err := io.ReadFull(s.c.r, h); err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("capture: the daemon closed the stream without an end record: %w", io.ErrUnexpectedEOF)
		}
		return Record{}, err
	}
	r, n, err := ParseRecordHeader(h)
	if err != nil {
		return r, err
	}
	r.Data = s.buf[RecordHeaderLen : RecordHeaderLen+n]
	if _, err := io.ReadFull(s.c.r, r.Data); err != nil {
		return r, fmt.Errorf("capture: record cut short: %w", err)
	}
	if r.Type == RecordEnd {
		s.done = true
	}
	return r, nil
}

// Stop asks the daemon to end the stream: it sends the end record, with
// the final count of lost packets, after what it already queued. Read on
// with Next until io.EOF.
func (s *CaptureStream) Stop() error {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := s.c.conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return s.c.conn.Close()
}

// SetDeadline bounds the wait of the Next calls to come.
func (s *CaptureStream) SetDeadline(t time.Time) error { return s.c.conn.SetReadDeadline(t) }

// Close closes the connection.
func (s *CaptureStream) Close() error { return s.c.Close() }
