package daemon

import (
	"errors"
	"fmt"
	"io"
	"net"

	"golang.org/x/sys/unix"
)

// mfm.sock and service.sock are SOCK_SEQPACKET, which carries empty
// messages. read() returns 0 both for an empty message and at the end of
// the stream, so a client that sent an empty message was taken for gone.
// With SO_PASSCRED set, every message, even an empty one, arrives with the
// sender's credentials as ancillary data, and the end of the stream with
// none: that tells them apart. (Polling for POLLRDHUP was the alternative;
// it cannot tell an empty message queued before a close from the close.)

// errTruncated is a message longer than the reader's buffer.
var errTruncated = errors.New("message longer than a packet")

// msgReader reads whole messages from one SOCK_SEQPACKET connection.
type msgReader struct {
	c   *net.UnixConn
	oob []byte
}

// newMsgReader sets SO_PASSCRED on c so that reads can tell an empty
// message from the end of the stream.
func newMsgReader(c *net.UnixConn) (*msgReader, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, fmt.Errorf("SO_PASSCRED: %w", serr)
	}
	// Room for the credentials and for a few descriptors a client might
	// pass, so they are received here and closed rather than left open.
	return &msgReader{c: c, oob: make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(16*4))}, nil
}

// read reads one message into buf. It returns io.EOF only at the end of the
// stream: an empty message is (0, nil). A message longer than buf is
// errTruncated; the connection is still good.
func (r *msgReader) read(buf []byte) (int, error) {
	n, oobn, flags, _, err := r.c.ReadMsgUnix(buf, r.oob)
	// The net package reports any read of 0 bytes as io.EOF; only the
	// missing credentials say it was the end of the stream.
	if err != nil && (oobn == 0 || !errors.Is(err, io.EOF)) {
		return 0, err
	}
	if oobn == 0 && n == 0 {
		return 0, io.EOF
	}
	closePassedFDs(r.oob[:oobn])
	if flags&unix.MSG_TRUNC != 0 {
		return n, errTruncated
	}
	return n, nil
}

// closePassedFDs closes any descriptors a client passed with SCM_RIGHTS:
// nothing here takes descriptors, and each would stay open in the daemon.
func closePassedFDs(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for i := range msgs {
		if fds, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
	}
}
