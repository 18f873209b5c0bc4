package tubetest

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/tube"
)

// Raw is a program on a tube.sock (the daemon's or a Server's) that
// speaks the contract frame by frame, with none of the tube package's
// help: tests of the service use it to send exactly the frames they mean,
// well-formed or not. A Raw belongs to one goroutine at a time, except
// that Pump writes from a goroutine of its own while it reads.
type Raw struct {
	// Conn is the connection, for tests that write, close or set
	// deadlines on it themselves.
	Conn *net.UnixConn
	// FrameSize is the most data Pump puts in one 'd' frame; 0 means
	// 4096.
	FrameSize int

	t   testing.TB
	buf []byte // Recv's, allocated on first use: see Recv
}

// recvBuf holds any frame of the contract (a message of up to 64 KiB
// and its type byte).
const recvBuf = 70000

// DialRaw connects to runDir's tube.sock and sends request (nothing if
// it is empty); the connection closes when t ends.
func DialRaw(t testing.TB, runDir, request string) *Raw {
	t.Helper()
	path := filepath.Join(runDir, tube.SocketName)
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r := &Raw{Conn: conn, t: t}
	if request != "" {
		r.Send([]byte(request))
	}
	return r
}

// Send writes one frame, reporting a failure as an error of the test.
func (r *Raw) Send(frame []byte) {
	r.t.Helper()
	if _, err := r.Conn.Write(frame); err != nil {
		r.t.Errorf("tube.sock send %q: %v", frame[:min(len(frame), 20)], err)
	}
}

// Recv returns a copy of the next frame, or an error: io.EOF when the
// service closed the connection. Its buffer is allocated on the first
// call, not by DialRaw, so that a client that only reads its reply
// (memory benchmarks hold hundreds) costs no 70 KB.
func (r *Raw) Recv(timeout time.Duration) ([]byte, error) {
	if r.buf == nil {
		r.buf = make([]byte, recvBuf)
	}
	return r.recvInto(r.buf, timeout)
}

func (r *Raw) recvInto(buf []byte, timeout time.Duration) ([]byte, error) {
	r.Conn.SetReadDeadline(time.Now().Add(timeout))
	n, err := r.Conn.Read(buf)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, io.EOF
	}
	return append([]byte(nil), buf[:n]...), nil
}

// Reply waits up to 20 s for the request's answer ("ok ...", "error ..."
// or "x..."), and fails the test without one. Call it from the test's
// goroutine.
func (r *Raw) Reply() string {
	r.t.Helper()
	f, err := r.recvInto(make([]byte, 512), 20*time.Second)
	if err != nil {
		r.t.Fatalf("no reply: %v", err)
	}
	return string(f)
}

// Pump writes data in frames of up to FrameSize bytes then ends the
// stream ('f'), while it reads until the tube closes or timeout passes.
// It returns the data read and the last frame: "c" for a clean close,
// "x..." for an abort, "read: ..." when reading failed.
func (r *Raw) Pump(data []byte, timeout time.Duration) (got []byte, final string) {
	size := r.FrameSize
	if size <= 0 {
		size = 4096
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for off := 0; off < len(data); off += size {
			r.Send(append([]byte{'d'}, data[off:min(off+size, len(data))]...))
		}
		r.Send([]byte{'f'})
	}()
	defer wg.Wait()
	deadline := time.Now().Add(timeout)
	for {
		f, err := r.Recv(time.Until(deadline))
		if err != nil {
			return got, "read: " + err.Error()
		}
		switch f[0] {
		case 'd':
			got = append(got, f[1:]...)
		case 'c', 'x':
			return got, string(f)
		}
	}
}

// Expect reads frames until one starts with prefix, which it returns,
// skipping the others; it fails the test after timeout or at the end of
// the connection. Call it from the test's goroutine.
func (r *Raw) Expect(prefix string, timeout time.Duration) []byte {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, err := r.Recv(time.Until(deadline))
		if err != nil {
			r.t.Fatalf("waiting for %q: %v", prefix, err)
		}
		if strings.HasPrefix(string(f), prefix) {
			return f
		}
	}
}
