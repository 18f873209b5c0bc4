// Package pcapng writes packet captures in the pcapng format that
// Wireshark, tshark and tcpdump read (IETF draft-ietf-opsawg-pcapng).
//
// A file is a Section Header Block, one Interface Description Block per
// interface, then Enhanced Packet Blocks and, at the end, Interface
// Statistics Blocks. Every block is
//
//	type u32 | total length u32 | body ... | options | total length u32
//
// in the writer's byte order (little-endian here, announced by the SHB's
// byte-order magic), padded to 4 bytes. An option is code u16, length u16,
// value padded to 4 bytes; a list of options ends with opt_endofopt (0, 0).
//
// Only what itcd needs is written: no name resolution, no multiple
// sections. The writer is written by hand rather than taken from a
// library (gopacket's pcapgo) because it is a hundred lines and the
// module then pulls in nothing for it.
package pcapng

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Block types.
const (
	BlockSHB = 0x0A0D0D0A // Section Header Block
	BlockIDB = 0x00000001 // Interface Description Block
	BlockISB = 0x00000005 // Interface Statistics Block
	BlockEPB = 0x00000006 // Enhanced Packet Block
)

// ByteOrderMagic is the SHB's first body word, written in the file's
// byte order.
const ByteOrderMagic = 0x1A2B3C4D

// Option codes.
const (
	OptEndOfOpt = 0
	OptComment  = 1 // opt_comment: UTF-8 text, any block

	OptSHBHardware = 2 // shb_hardware
	OptSHBOS       = 3 // shb_os
	OptSHBUserAppl = 4 // shb_userappl

	OptIFName        = 2 // if_name
	OptIFDescription = 3 // if_description
	OptIFTSResol     = 9 // if_tsresol: one byte, 9 = nanoseconds

	OptEPBFlags = 2 // epb_flags: u32, bits 0-1 the direction

	OptISBStartTime = 2 // isb_starttime: timestamp (high u32, low u32)
	OptISBEndTime   = 3 // isb_endtime
	OptISBIfRecv    = 4 // isb_ifrecv: u64 packets received
	OptISBIfDrop    = 5 // isb_ifdrop: u64 packets dropped
)

// Direction values of epb_flags bits 0-1.
const (
	FlagDirUnknown  = 0
	FlagDirInbound  = 1
	FlagDirOutbound = 2
)

// maxOption is the most bytes one option's value may hold (its length
// field is 16 bits).
const maxOption = math.MaxUint16

// ErrTooLong is returned for an option or packet too long for its field.
var ErrTooLong = errors.New("pcapng: value too long for its field")

var le = binary.LittleEndian

// Option is one option of a block: its code and its value, unpadded.
type Option struct {
	Code  uint16
	Value []byte
}

// String returns a text option (opt_comment, if_name, ...).
func String(code uint16, s string) Option { return Option{Code: code, Value: []byte(s)} }

// Uint32 returns an option holding a little-endian u32 (epb_flags).
func Uint32(code uint16, v uint32) Option { return Option{Code: code, Value: le.AppendUint32(nil, v)} }

// Uint64 returns an option holding a little-endian u64 (isb_ifdrop).
func Uint64(code uint16, v uint64) Option { return Option{Code: code, Value: le.AppendUint64(nil, v)} }

// Timestamp returns an option holding a time in nanoseconds since 1970
// as the high and low 32 bits (isb_starttime): the interface's if_tsresol
// must be nanoseconds, as Interface writes it.
func Timestamp(code uint16, t time.Time) Option {
	return Option{Code: code, Value: appendTime(nil, t)}
}

// appendOptions appends opts and opt_endofopt (nothing at all when opts
// is empty: the end marker is optional then).
func appendOptions(b []byte, opts []Option) ([]byte, error) {
	if len(opts) == 0 {
		return b, nil
	}
	for _, o := range opts {
		if len(o.Value) > maxOption {
			return b, fmt.Errorf("%w: option %d of %d bytes", ErrTooLong, o.Code, len(o.Value))
		}
		b = le.AppendUint16(b, o.Code)
		b = le.AppendUint16(b, uint16(len(o.Value)))
		b = append(b, o.Value...)
		b = pad(b)
	}
	return append(b, 0, 0, 0, 0), nil
}

func pad(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// appendBlock appends one block: its type, length, body (padded), options
// and length again.
func appendBlock(b []byte, typ uint32, body []byte, opts []Option) ([]byte, error) {
	start := len(b)
	b = le.AppendUint32(b, typ)
	b = le.AppendUint32(b, 0) // total length, set below
	b = pad(append(b, body...))
	b, err := appendOptions(b, opts)
	if err != nil {
		return b[:start], err
	}
	n := len(b) - start + 4
	if uint64(n) > math.MaxUint32 {
		return b[:start], fmt.Errorf("%w: block of %d bytes", ErrTooLong, n)
	}
	le.PutUint32(b[start+4:], uint32(n))
	return le.AppendUint32(b, uint32(n)), nil
}

// Interface describes one capture interface (an IDB).
type Interface struct {
	LinkType uint16 // LINKTYPE_* of every packet on it
	SnapLen  uint32 // the most bytes a packet of it holds; 0: no limit
	Name     string // if_name, "" for none
	Desc     string // if_description, "" for none
}

// Packet is one captured packet (an EPB).
type Packet struct {
	Interface uint32 // index of its IDB, 0 for the first
	Time      time.Time
	Data      []byte
	Flags     uint32 // epb_flags; 0 writes none
	Comment   string // opt_comment, "" for none
}

// Stats are an interface's counters at the end of a capture (an ISB).
type Stats struct {
	Interface uint32
	Time      time.Time // when the counters were read
	Start     time.Time // isb_starttime; zero for none
	End       time.Time // isb_endtime; zero for none
	Received  uint64    // isb_ifrecv
	Dropped   uint64    // isb_ifdrop
	Comment   string    // opt_comment, "" for none
}

// Writer writes one section to w. It is not safe for concurrent use.
// Each Write* call issues one w.Write of whole blocks, so a buffered w
// flushed after each call never holds half a block.
type Writer struct {
	w         io.Writer
	body, buf []byte // reused by WritePacket
	ifs       int
}

// NewWriter writes the section header (with shb_userappl app, if not
// empty) and an IDB for each interface, and returns the writer.
func NewWriter(w io.Writer, app string, ifs ...Interface) (*Writer, error) {
	wr := &Writer{w: w, ifs: len(ifs)}
	body := le.AppendUint32(nil, ByteOrderMagic)
	body = le.AppendUint16(body, 1) // major version
	body = le.AppendUint16(body, 0) // minor version
	body = le.AppendUint64(body, math.MaxUint64)
	var opts []Option
	if app != "" {
		opts = append(opts, String(OptSHBUserAppl, app))
	}
	b, err := appendBlock(nil, BlockSHB, body, opts)
	if err != nil {
		return nil, err
	}
	for _, in := range ifs {
		body := le.AppendUint16(nil, in.LinkType)
		body = le.AppendUint16(body, 0)
		body = le.AppendUint32(body, in.SnapLen)
		opts := []Option{{Code: OptIFTSResol, Value: []byte{9}}}
		if in.Name != "" {
			opts = append(opts, String(OptIFName, in.Name))
		}
		if in.Desc != "" {
			opts = append(opts, String(OptIFDescription, in.Desc))
		}
		if b, err = appendBlock(b, BlockIDB, body, opts); err != nil {
			return nil, err
		}
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	return wr, nil
}

// appendTime appends t in nanoseconds since 1970, high word first.
func appendTime(b []byte, t time.Time) []byte {
	ns := uint64(t.UnixNano())
	b = le.AppendUint32(b, uint32(ns>>32))
	return le.AppendUint32(b, uint32(ns))
}

// WritePacket writes one EPB.
func (wr *Writer) WritePacket(p Packet) error {
	if int(p.Interface) >= wr.ifs {
		return fmt.Errorf("pcapng: packet on interface %d, the section has %d", p.Interface, wr.ifs)
	}
	if uint64(len(p.Data)) > math.MaxUint32/2 {
		return fmt.Errorf("%w: packet of %d bytes", ErrTooLong, len(p.Data))
	}
	body := le.AppendUint32(wr.body[:0], p.Interface)
	body = appendTime(body, p.Time)
	body = le.AppendUint32(body, uint32(len(p.Data)))
	body = le.AppendUint32(body, uint32(len(p.Data)))
	body = append(body, p.Data...)
	var opts []Option
	if p.Flags != 0 {
		opts = append(opts, Uint32(OptEPBFlags, p.Flags))
	}
	if p.Comment != "" {
		opts = append(opts, String(OptComment, p.Comment))
	}
	b, err := appendBlock(wr.buf[:0], BlockEPB, body, opts)
	wr.body, wr.buf = body, b
	if err != nil {
		return err
	}
	_, err = wr.w.Write(b)
	return err
}

// WriteStats writes one ISB.
func (wr *Writer) WriteStats(s Stats) error {
	if int(s.Interface) >= wr.ifs {
		return fmt.Errorf("pcapng: statistics of interface %d, the section has %d", s.Interface, wr.ifs)
	}
	body := le.AppendUint32(nil, s.Interface)
	body = appendTime(body, s.Time)
	var opts []Option
	if s.Comment != "" {
		opts = append(opts, String(OptComment, s.Comment))
	}
	if !s.Start.IsZero() {
		opts = append(opts, Timestamp(OptISBStartTime, s.Start))
	}
	if !s.End.IsZero() {
		opts = append(opts, Timestamp(OptISBEndTime, s.End))
	}
	opts = append(opts, Uint64(OptISBIfRecv, s.Received), Uint64(OptISBIfDrop, s.Dropped))
	b, err := appendBlock(nil, BlockISB, body, opts)
	if err != nil {
		return err
	}
	_, err = wr.w.Write(b)
	return err
}
