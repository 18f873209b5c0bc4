package counter

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The counter payload, byte by byte in notes/protocol.md. Byte 0 is the
// message type; what follows depends on it. Bytes past the end of a known
// message are ignored, so a later version can append fields that older
// tiles skip, as the liveness hello does. The encoders and the parser are
// exported for programs that speak service 2 from outside the service,
// such as the hostile neighbour of the attack tests (sim/hostile).
const (
	// MsgValue tells the receiver the sender's value:
	// bytes 1..8 are an int64, big-endian, two's complement.
	MsgValue = 1
	// MsgAsk asks the receiver to answer with a MsgValue. It has no body.
	MsgAsk = 2

	valueLen = 1 + 8 // a MsgValue is at least this long
)

// askPayload is the whole of an ask.
var askPayload = AppendAsk(nil)

// AppendValue appends the MsgValue for v to dst.
func AppendValue(dst []byte, v int64) []byte {
	dst = append(dst, MsgValue)
	return binary.BigEndian.AppendUint64(dst, uint64(v))
}

// AppendAsk appends a MsgAsk to dst.
func AppendAsk(dst []byte) []byte { return append(dst, MsgAsk) }

// Message is one payload from a neighbour, parsed.
type Message struct {
	Kind  byte  // MsgValue or MsgAsk
	Value int64 // for MsgValue
}

var errEmpty = errors.New("empty payload")

// ParseMessage reads a payload from a neighbour. It trusts nothing: a
// payload too short for its type, or of a type this version does not
// know, is an error.
func ParseMessage(b []byte) (Message, error) {
	if len(b) == 0 {
		return Message{}, errEmpty
	}
	switch b[0] {
	case MsgValue:
		if len(b) < valueLen {
			return Message{}, fmt.Errorf("value message of %d bytes, want %d", len(b), valueLen)
		}
		return Message{Kind: MsgValue, Value: int64(binary.BigEndian.Uint64(b[1:valueLen]))}, nil
	case MsgAsk:
		return Message{Kind: MsgAsk}, nil
	}
	return Message{}, fmt.Errorf("unknown message type %d", b[0])
}
