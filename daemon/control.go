package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// The control socket speaks one JSON object a line each way:
//
//	request:  {"cmd":"status","args":{...}}
//	response: {"ok":true,"result":{...}} or {"ok":false,"error":"..."}
//
// Requests are at most MaxControlRequest bytes.

// MaxControlRequest bounds one request line on control.sock.
const MaxControlRequest = 64 << 10

// controlWriteTimeout bounds how long an answer may wait for its client
// to read it (ClientIdle, if that is shorter): the socket's buffer holds a
// whole status, so only a client that stopped reading waits at all.
const controlWriteTimeout = 5 * time.Second

// ControlRequest is one request on control.sock.
type ControlRequest struct {
	Cmd  string          `json:"cmd"`
	Args json.RawMessage `json:"args,omitempty"`
}

// ControlResponse is the answer to one request.
type ControlResponse struct {
	OK     bool            `json:"ok"`
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

func (d *Daemon) serveControl(ctx context.Context, lc *localConn) {
	c := lc.UnixConn
	r := bufio.NewReaderSize(c, 4096)
	enc := json.NewEncoder(c)
	// A client that does not read its answers must not hold its place
	// (it is busy, so never closed to make room) for long.
	answer := func(resp ControlResponse) error {
		c.SetWriteDeadline(time.Now().Add(min(controlWriteTimeout, d.cfg.ClientIdle.D())))
		return enc.Encode(resp)
	}
	for {
		// Waiting for a request, the connection holds a place for
		// nothing: after ClientIdle, or when the socket is full and
		// another client comes, it is closed.
		lc.idle()
		c.SetReadDeadline(time.Now().Add(d.cfg.ClientIdle.D()))
		line, err := readLine(r, MaxControlRequest)
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				answer(ControlResponse{Error: fmt.Sprintf("no request for %v: connection closed", d.cfg.ClientIdle)})
			case errors.Is(err, errLineTooLong):
				answer(ControlResponse{Error: ErrRequestTooLong.Error()})
			}
			return
		}
		if !lc.busy() {
			return
		}
		var resp ControlResponse
		if req, err := parseControlRequest(line); err != nil {
			resp.Error = err.Error()
		} else if result, err := d.control(ctx, req); err != nil {
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

var errLineTooLong = fmt.Errorf("line too long")

func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return nil, err
		}
		line = append(line, chunk...)
		if len(line) > max {
			return nil, errLineTooLong
		}
		if !isPrefix {
			return line, nil
		}
	}
}

func (d *Daemon) control(ctx context.Context, req ControlRequest) (any, error) {
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

// LinkArgs are the arguments of the "link" command: the profile of one
// UDP link, read or (with Profile) changed. Only UDP devices have one.
type LinkArgs struct {
	Dir     packet.Dir       `json:"dir"`
	Profile *dev.LinkProfile `json:"profile,omitempty"`
}

type profiled interface {
	SetProfile(packet.Dir, dev.LinkProfile) error
	Profile(packet.Dir) dev.LinkProfile
}

func (d *Daemon) controlLink(args []byte) (any, error) {
	var a LinkArgs
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

// Status is what `itcd status` shows.
type Status struct {
	Tile      p2p.TileID     `json:"tile"`
	Version   int            `json:"protocol_version"`
	Device    string         `json:"device"`
	Uptime    float64        `json:"uptime_s"`
	RunDir    string         `json:"run_dir"`
	StateDir  string         `json:"state_dir"`
	Links     []LinkStatus   `json:"links"`
	Services  []ServiceOwner `json:"services"`
	MFMClient bool           `json:"mfm_client"`
	Sockets   []SocketStatus `json:"sockets"`
	MFMRefuse uint64         `json:"mfm_refused"`
	SvcRefuse uint64         `json:"service_sock_refused"`
	Malformed uint64         `json:"malformed"`
	Local     Count          `json:"local_in"`
	// LogSuppressed counts log lines the rate limit dropped (see
	// Config.LogBurst), when the daemon's logger has one.
	LogSuppressed uint64 `json:"log_suppressed"`
	// DeviceStats are the device's own counters, where it keeps any (the
	// UDP device counts datagrams from strangers and ones that do not
	// decode, per-link queue drops and impairments).
	DeviceStats *dev.UDPStats  `json:"device_stats,omitempty"`
	Sections    map[string]any `json:"sections,omitempty"`
}

// LinkStatus is one direction in Status.
type LinkStatus struct {
	Dir       packet.Dir       `json:"dir"`
	Link      string           `json:"link"`
	State     NeighbourState   `json:"state"`
	Tile      *p2p.TileID      `json:"tile,omitempty"`
	Since     float64          `json:"since_s"`
	LastHeard *float64         `json:"last_heard_s_ago,omitempty"`
	RTT       *float64         `json:"rtt_ms,omitempty"`
	Uptime    uint32           `json:"peer_uptime_s,omitempty"`
	In        map[string]Count `json:"in"`
	Out       map[string]Count `json:"out"`
	Dropped   uint64           `json:"dropped"`
	Unowned   uint64           `json:"unowned"`
	NotLive   uint64           `json:"not_live"`
	Malformed uint64           `json:"malformed"`
	Suspect   uint64           `json:"suspect"`
	Errors    uint64           `json:"write_errors"`
	Hellos    uint64           `json:"hellos"`
	BadHellos uint64           `json:"bad_hellos"`
	Connects  uint64           `json:"connects"`
	// IdentityRefused counts hellos that claimed another identity sooner
	// than a tile can be replaced (see Config.IdentityHold).
	IdentityRefused uint64 `json:"identity_refused"`
}

// ServiceOwner is one owned service number in Status.
type ServiceOwner struct {
	Number  packet.Service `json:"number"`
	Owner   string         `json:"owner"`
	Dropped uint64         `json:"dropped"`
}

// Status returns a snapshot of the daemon's state and counters.
func (d *Daemon) Status() Status {
	now := time.Now()
	st := Status{
		Tile:      d.self,
		Version:   ProtocolVersion,
		Device:    d.devName,
		Uptime:    now.Sub(d.started).Seconds(),
		RunDir:    d.cfg.RunDir,
		StateDir:  d.cfg.StateDir,
		MFMRefuse: d.mfm.refused.Load(),
		SvcRefuse: d.svcRefused.Load(),
		Malformed: d.stats.malformed.Load(),
		Local:     d.stats.local.snapshot(),
	}
	if h, ok := d.log.Handler().(interface{ Suppressed() uint64 }); ok {
		st.LogSuppressed = h.Suppressed()
	}
	if u, ok := d.dev.(interface{ Stats() dev.UDPStats }); ok {
		s := u.Stats()
		st.DeviceStats = &s
	}
	d.mfm.mu.Lock()
	st.MFMClient = d.mfm.client != nil
	d.mfm.mu.Unlock()
	st.Sockets = d.sockets.status()
	links := d.dev.Status()
	d.nbr.mu.Lock()
	for _, dir := range packet.Links {
		n := &d.nbr.n[dir]
		ls := &d.stats.link[dir]
		l := LinkStatus{
			Dir: dir, Link: links[dir].String(), State: n.state,
			In: map[string]Count{}, Out: map[string]Count{},
			Dropped: ls.dropped.Load(), Unowned: ls.unowned.Load(), NotLive: ls.notLive.Load(), Malformed: ls.malformed.Load(),
			Suspect: ls.suspect.Load(), Errors: ls.writeErrors.Load(), Hellos: n.hellos, BadHellos: n.badHellos, Connects: n.connects,
			IdentityRefused: n.identityRefused,
		}
		if !n.since.IsZero() {
			l.Since = now.Sub(n.since).Seconds()
		}
		if n.state == Live {
			t := n.tile
			l.Tile = &t
			l.Uptime = n.uptime
			if n.srtt > 0 {
				ms := float64(n.srtt) / float64(time.Millisecond)
				l.RTT = &ms
			}
		}
		if !n.lastHeard.IsZero() {
			ago := now.Sub(n.lastHeard).Seconds()
			l.LastHeard = &ago
		}
		for c := 0; c < numClasses; c++ {
			l.In[classNames[c]] = ls.in[c].snapshot()
			l.Out[classNames[c]] = ls.out[c].snapshot()
		}
		st.Links = append(st.Links, l)
	}
	d.nbr.mu.Unlock()
	for s := packet.ServiceLiveness; s <= packet.MaxService; s++ {
		o := d.owners[s].Load()
		if o == nil {
			continue
		}
		so := ServiceOwner{Number: s, Owner: o.name}
		switch {
		case o.svc != nil:
			so.Owner = "itcd " + o.name
			so.Dropped = o.svc.dropped.Load()
		case o.client != nil:
			so.Dropped = o.client.dropped.Load()
		}
		st.Services = append(st.Services, so)
	}
	for _, h := range d.inproc {
		if r, ok := h.svc.(p2p.StatusReporter); ok {
			if st.Sections == nil {
				st.Sections = map[string]any{}
			}
			st.Sections[h.svc.Name()] = r.Status()
		}
	}
	return st
}

// ControlClient talks to a running daemon's control.sock.
type ControlClient struct {
	conn net.Conn
	r    *bufio.Reader
	// Timeout, when set, bounds each Call's wait for its answer. A push
	// leaves it 0: verifying a large file takes minutes on a tile.
	Timeout time.Duration
}

// dialRetry is how long DialControl keeps trying while the daemon's
// listen queue is full (EAGAIN): a burst of other clients, not an error.
const dialRetry = 2 * time.Second

// DialControl connects to the daemon whose run dir is runDir.
func DialControl(runDir string) (*ControlClient, error) {
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
	return &ControlClient{conn: c, r: bufio.NewReader(c)}, nil
}

// Call sends one request and decodes the result into out (if not nil).
func (cc *ControlClient) Call(cmd string, args any, out any) error {
	req := ControlRequest{Cmd: cmd}
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
	line, err := readLine(cc.r, 64<<20)
	if err != nil {
		return fmt.Errorf("control: no answer: %w", err)
	}
	var resp ControlResponse
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
func (cc *ControlClient) Close() error { return cc.conn.Close() }
