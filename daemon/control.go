package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// The daemon's side of control.sock: package control has the language
// (one JSON object a line each way) and the client; this file reads the
// requests, answers the daemon's own commands and hands the rest to the
// services that claim them (p2p.ControlHandler).

// controlWriteTimeout bounds how long an answer may wait for its client
// to read it (ClientIdle, if that is shorter): the socket's buffer holds a
// whole status, so only a client that stopped reading waits at all.
const controlWriteTimeout = 5 * time.Second

func (d *Daemon) serveControl(ctx context.Context, lc *localConn) {
	c := lc.UnixConn
	r := bufio.NewReaderSize(c, 4096)
	enc := json.NewEncoder(c)
	// A client that does not read its answers must not hold its place
	// (it is busy, so never closed to make room) for long.
	answer := func(resp control.Response) error {
		c.SetWriteDeadline(time.Now().Add(min(controlWriteTimeout, d.cfg.ClientIdle.D())))
		return enc.Encode(resp)
	}
	for {
		// Waiting for a request, the connection holds a place for
		// nothing: after ClientIdle, or when the socket is full and
		// another client comes, it is closed.
		lc.idle()
		c.SetReadDeadline(time.Now().Add(d.cfg.ClientIdle.D()))
		line, err := control.ReadLine(r, control.MaxRequest)
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				answer(control.Response{Error: fmt.Sprintf("no request for %v: connection closed", d.cfg.ClientIdle)})
			case errors.Is(err, control.ErrLineTooLong):
				answer(control.Response{Error: ErrRequestTooLong.Error()})
			}
			return
		}
		if !lc.busy() {
			return
		}
		var resp control.Response
		req, err := parseControlRequest(line)
		if err == nil && req.Cmd == control.CaptureCmd {
			// Once a capture starts, the connection is its stream.
			if d.serveCapture(ctx, lc, r, req.Args, answer) {
				return
			}
			continue
		}
		if err != nil {
			resp.Error = err.Error()
		} else if result, err := d.handleControl(ctx, req); err != nil {
			resp.Error = err.Error()
		} else if resp.Result, err = json.Marshal(result); err != nil {
			resp.Error = err.Error()
		} else {
			resp.OK = true
		}
		if err := answer(resp); err != nil {
			return
		}
	}
}

func (d *Daemon) handleControl(ctx context.Context, req control.Request) (any, error) {
	switch req.Cmd {
	case "status":
		return d.Status(), nil
	case "ping":
		return "pong", nil
	case "link":
		return d.controlLink(req.Args)
	}
	for _, h := range d.inproc {
		if ch, ok := h.svc.(p2p.ControlHandler); ok {
			for _, c := range ch.Commands() {
				if c == req.Cmd {
					return ch.Control(ctx, req.Cmd, req.Args)
				}
			}
		}
	}
	return nil, fmt.Errorf("unknown command %q", req.Cmd)
}

type profiled interface {
	SetProfile(packet.Dir, dev.LinkProfile) error
	Profile(packet.Dir) dev.LinkProfile
}

func (d *Daemon) controlLink(args []byte) (any, error) {
	var a control.LinkArgs
	if err := json.Unmarshal(args, &a); err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	p, ok := d.dev.(profiled)
	if !ok {
		return nil, fmt.Errorf("link: the %s device has no link profiles", d.devName)
	}
	if !a.Dir.IsLink() {
		return nil, fmt.Errorf("link: %v is not a link direction", a.Dir)
	}
	if a.Profile != nil {
		if err := p.SetProfile(a.Dir, *a.Profile); err != nil {
			return nil, err
		}
	}
	return p.Profile(a.Dir), nil
}
