package control

import (
	"bufio"
	"encoding/json"
	"errors"
)

// DefaultRunDir is a tile's run dir, where its daemon's sockets are
// unless its configuration says otherwise (run_dir).
const DefaultRunDir = "/run/itcd"

// Socket names in a daemon's run dir.
const (
	MFMSocket     = "mfm.sock"     // mfmt2's MFM traffic (one client)
	ServiceSocket = "service.sock" // out-of-process services
	ControlSocket = "control.sock" // this package's requests
)

// MaxRequest bounds one request line on control.sock.
const MaxRequest = 64 << 10

// maxResponse bounds one answer a Client reads: a status with every
// service's section fits many times over, a daemon gone wrong cannot make
// a client hold more.
const maxResponse = 64 << 20

// Request is one request on control.sock.
type Request struct {
	Cmd  string          `json:"cmd"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Response is the answer to one request.
type Response struct {
	OK     bool            `json:"ok"`
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// ErrLineTooLong is ReadLine's answer to a line longer than its limit.
var ErrLineTooLong = errors.New("line too long")

// ReadLine reads one line (without its newline, or its CR LF) of at most
// max bytes. A longer line is ErrLineTooLong, and the reader is then
// somewhere inside it: the caller closes the connection.
func ReadLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return nil, err
		}
		line = append(line, chunk...)
		if len(line) > max {
			return nil, ErrLineTooLong
		}
		if !isPrefix {
			return line, nil
		}
	}
}
