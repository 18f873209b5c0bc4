package counter

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The counter payload, byte by byte in notes/protocol.md. Byte 0 is the
// message type; what follows depends on it. Bytes past the end of a known
// message are ignored, so a later version can append fields that older
// tiles skip, as the liveness hello does.
const (
	// msgValue tells the receiver the sender's value:
	// bytes 1..8 are an int64, big-endian, two's complement.
	msgValue = 1
	// msgAsk asks the receiver to answer with a msgValue. It has no body.
	msgAsk = 2

	valueLen = 1 + 8 // a msgValue is at least this long
)

// askPayload is the whole of an ask.
var askPayload = []byte{msgAsk}

// appendValue appends the msgValue for v to dst.
func appendValue(dst []byte, v int64) []byte {
	dst = append(dst, msgValue)
	return binary.BigEndian.AppendUint64(dst, uint64(v))
}

// message is one payload from a neighbour, parsed.
type message struct {
	kind  byte  // msgValue or msgAsk
	value int64 // for msgValue
}

var errEmpty = errors.New("empty payload")

// parseMessage reads a payload from a neighbour. It trusts nothing: a
// payload too short for its type, or of a type this version does not
// know, is an error.
func parseMessage(b []byte) (message, error) {
	if len(b) == 0 {
		return message{}, errEmpty
	}
	switch b[0] {
	case msgValue:
		if len(b) < valueLen {
			return message{}, fmt.Errorf("value message of %d bytes, want %d", len(b), valueLen)
		}
		return message{kind: msgValue, value: int64(binary.BigEndian.Uint64(b[1:valueLen]))}, nil
	case msgAsk:
		return message{kind: msgAsk}, nil
	}
	return message{}, fmt.Errorf("unknown message type %d", b[0])
}
