package tube

// Frames after the reply, each one SOCK_SEQPACKET record whose first byte
// is its type:
//
//	client -> daemon: 'd' DATA | 'a' U64 | 'f' | 'x' [TEXT]
//	daemon -> client: 'd' DATA | 'e' | 'r' U64 | 'v' U64 | 'c' | 'x' TEXT
//
// U64 is big-endian. DATA is 1..65536 stream bytes or one whole message
// of 0..65536 bytes.

import (
	"encoding/binary"
	"fmt"
)

// Frame types.
const (
	FrameData      = 'd'
	FrameAck       = 'a' // client: cumulative count consumed
	FrameFin       = 'f' // client: no more data
	FrameAbort     = 'x'
	FrameEnd       = 'e' // daemon: the far side finished writing
	FrameReceived  = 'r' // daemon: messages held by the far itcd
	FrameDelivered = 'v' // daemon: consumed by the far program
	FrameClosed    = 'c' // daemon: closed cleanly
)

// MaxFrame is the longest frame either side may send.
const MaxFrame = 1 + MaxMessage

// maxReason bounds the reason text kept from an 'x' frame.
const maxReason = 512

// Frame is one daemon->client frame, parsed.
type Frame struct {
	Type  byte
	Data  []byte // 'd': aliases the buffer parsed; 'x': the reason
	Count uint64 // 'r', 'v'
}

// AppendCount appends a type byte and a big-endian count ('a', 'r', 'v').
func AppendCount(dst []byte, typ byte, n uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, typ), n)
}

// ParseFrame checks one frame from the daemon.
func ParseFrame(b []byte) (Frame, error) {
	if len(b) == 0 {
		return Frame{}, fmt.Errorf("%w: empty frame", ErrProtocol)
	}
	f := Frame{Type: b[0]}
	switch b[0] {
	case FrameData:
		if len(b) > MaxFrame {
			return f, fmt.Errorf("%w: data frame of %d bytes", ErrProtocol, len(b))
		}
		f.Data = b[1:]
	case FrameEnd, FrameClosed:
		if len(b) != 1 {
			return f, fmt.Errorf("%w: '%c' frame of %d bytes", ErrProtocol, b[0], len(b))
		}
	case FrameReceived, FrameDelivered:
		if len(b) != 9 {
			return f, fmt.Errorf("%w: '%c' frame of %d bytes, want 9", ErrProtocol, b[0], len(b))
		}
		f.Count = binary.BigEndian.Uint64(b[1:])
	case FrameAbort:
		f.Data = b[1:min(len(b), 1+maxReason)]
	default:
		return f, fmt.Errorf("%w: unknown frame type 0x%02x", ErrProtocol, b[0])
	}
	return f, nil
}

// AppendFrame appends f as the daemon would send it.
func (f Frame) AppendFrame(dst []byte) []byte {
	switch f.Type {
	case FrameReceived, FrameDelivered, FrameAck:
		return AppendCount(dst, f.Type, f.Count)
	}
	return append(append(dst, f.Type), f.Data...)
}
