package control

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Client talks to a running daemon's control.sock. One Call at a time.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
	// Timeout, when set, bounds each Call's wait for its answer. A push
	// leaves it 0: verifying a large file takes minutes on a tile.
	Timeout time.Duration
}

// dialRetry is how long Dial keeps trying while the daemon's listen queue
// is full (EAGAIN): a burst of other clients, not an error.
const dialRetry = 2 * time.Second

// Dial connects to the daemon whose run dir is runDir.
func Dial(runDir string) (*Client, error) {
	path := filepath.Join(runDir, ControlSocket)
	var c net.Conn
	var err error
	for wait, give := 10*time.Millisecond, time.Now().Add(dialRetry); ; wait *= 2 {
		c, err = net.DialTimeout("unix", path, 2*time.Second)
		if !errors.Is(err, syscall.EAGAIN) || time.Now().After(give) {
			break
		}
		time.Sleep(wait)
	}
	if err != nil {
		if _, serr := os.Stat(path); serr != nil {
			return nil, fmt.Errorf("no itcd control socket at %s: is itcd running with --run-dir %s?", path, runDir)
		}
		return nil, fmt.Errorf("connect to %s: %w", path, err)
	}
	return &Client{conn: c, r: bufio.NewReader(c)}, nil
}

// Call sends one request and decodes the result into out (if not nil).
// The daemon's refusal is an error "itcd: REASON".
func (cc *Client) Call(cmd string, args any, out any) error {
	req := Request{Cmd: cmd}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return err
		}
		req.Args = b
	}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if cc.Timeout > 0 {
		cc.conn.SetDeadline(time.Now().Add(cc.Timeout))
		defer cc.conn.SetDeadline(time.Time{})
	}
	if _, err := cc.conn.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("control: %w", err)
	}
	line, err := ReadLine(cc.r, maxResponse)
	if err != nil {
		return fmt.Errorf("control: no answer: %w", err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("control: bad answer: %w", err)
	}
	if !resp.OK {
		return fmt.Errorf("itcd: %s", resp.Error)
	}
	if out == nil {
		return nil
	}
	// Numbers decoded into an interface (Status.Sections) stay exact:
	// versions are int64 nanoseconds, past what a float64 holds.
	dec := json.NewDecoder(bytes.NewReader(resp.Result))
	dec.UseNumber()
	return dec.Decode(out)
}

// Close closes the connection.
func (cc *Client) Close() error { return cc.conn.Close() }
