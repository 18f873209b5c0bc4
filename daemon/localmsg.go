package daemon

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
)

// What local clients write, checked before the daemon acts on it. Each
// check is a pure function of the bytes of one message (or one request
// line), so it is fuzzed on its own (fuzz_test.go) instead of through a
// socket; the socket loops (svcsock.go, mfm.go, control.go) call them and
// only count, log and answer.

// Reasons a local client's message is refused. Callers decide with
// errors.Is; a malformed packet is a *packet.Error instead.
var (
	// ErrNotService: a service.sock client wrote a packet that is not a
	// routed service packet (MFM, local, non-standard).
	ErrNotService = errors.New("not a service packet: write 0x80|DIR, N, payload")
	// ErrOtherService: a service.sock client wrote a service packet for a
	// number other than the one it bound.
	ErrOtherService = errors.New("service packet for a number this client did not bind")
	// ErrNotMFM: an mfm.sock client wrote a packet that is not MFM traffic.
	ErrNotMFM = errors.New("not an MFM packet: write 0xA0|DIR, payload")
	// ErrRequestTooLong: a control.sock request line longer than
	// control.MaxRequest.
	ErrRequestTooLong = fmt.Errorf("request longer than %d bytes", control.MaxRequest)
	// ErrRequestNotJSON: a control.sock request line that is not one
	// JSON object.
	ErrRequestNotJSON = errors.New("request is not JSON")
	// ErrRequestNoCmd: a control.sock request without a command.
	ErrRequestNoCmd = errors.New(`request has no "cmd": send one JSON object a line, such as {"cmd":"status"}`)
)

// checkServiceWrite checks one message a service.sock client bound to
// service num wrote: it must decode as a service packet of that number to
// a link (packet.Decode refuses NT and ST). An empty message is
// packet.ErrEmpty.
func checkServiceWrite(b []byte, num packet.Service) (packet.Packet, error) {
	p, err := packet.Decode(b)
	switch {
	case err != nil:
		return packet.Packet{}, err
	case p.Kind != packet.KindService:
		return packet.Packet{}, fmt.Errorf("%w (got a %v packet, header 0x%02x)", ErrNotService, p.Kind, b[0])
	case p.Service != num:
		return packet.Packet{}, fmt.Errorf("%w: service %d, bound to %d", ErrOtherService, p.Service, num)
	}
	return p, nil
}

// checkMFMWrite checks one message the mfm.sock client wrote: it must
// decode as an MFM packet to a link. An empty message is packet.ErrEmpty.
func checkMFMWrite(b []byte) (packet.Packet, error) {
	p, err := packet.Decode(b)
	switch {
	case err != nil:
		return packet.Packet{}, err
	case p.Kind != packet.KindMFM:
		return packet.Packet{}, fmt.Errorf("%w (got a %v packet, header 0x%02x)", ErrNotMFM, p.Kind, b[0])
	}
	return p, nil
}

// parseControlRequest reads one request line of control.sock (without its
// newline): at most control.MaxRequest bytes of one JSON object with a
// non-empty "cmd". Unknown fields are ignored, so a later client may send
// more; the command itself is looked up by the caller.
func parseControlRequest(line []byte) (control.Request, error) {
	if len(line) > control.MaxRequest {
		return control.Request{}, ErrRequestTooLong
	}
	var req control.Request
	if err := json.Unmarshal(line, &req); err != nil {
		return control.Request{}, fmt.Errorf("%w: %w", ErrRequestNotJSON, err)
	}
	if req.Cmd == "" {
		return control.Request{}, ErrRequestNoCmd
	}
	return req, nil
}
