package tube

// The text exchanged when a tube is set up (notes/protocol.md, tube.sock):
//
//	open DIR|TILE PORT [message] [acks] [timeout=DUR]
//	accept PORT [message] [acks] [from=DIR] [timeout=DUR]
//	ok ID DIR|- TILE LOCALPORT REMOTEPORT KIND WINDOW
//	error TEXT
//
// Request and Reply each have an append-style encoder and one parser,
// shared by this client and the daemon, so the two cannot drift.

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

const (
	// MaxMessage is the largest message of a message tube, and the most
	// bytes one data frame carries.
	MaxMessage = 65536
	// MaxRequest bounds the request and the reply text.
	MaxRequest = 256
	// MaxOpenTimeout bounds how long an open waits for the accept.
	MaxOpenTimeout = 5 * time.Minute
	// maxTile bounds the far tile's identity in a reply.
	maxTile = 64
	// MaxWindow bounds the window a reply may announce: the client keeps
	// at most about this much data buffered, so it must fit a 32-bit tile.
	MaxWindow = 16 << 20
)

// Request is the first frame a client sends on tube.sock.
type Request struct {
	Accept bool       // accept PORT; else open DIR PORT
	Dir    packet.Dir // open: the link to the neighbour
	// To, for an open instead of Dir, names a tile beyond the neighbours:
	// its identity (16 hex digits), a unique prefix of 4 or more, or a
	// route of link directions from here such as ET,ET,SE.
	To      string
	From    packet.Dir // accept: only from this link; 0 (NT, no link) = any
	Port    uint16     // 1..65535
	Message bool       // a message tube
	Acks    bool       // the client reports what its application consumed
	Timeout time.Duration
}

// AppendText appends the request's text to dst.
func (r Request) AppendText(dst []byte) []byte {
	if r.Accept {
		dst = append(dst, "accept "...)
	} else {
		dst = append(dst, "open "...)
		if r.To != "" {
			dst = append(dst, r.To...)
		} else {
			dst = append(dst, r.Dir.String()...)
		}
		dst = append(dst, ' ')
	}
	dst = strconv.AppendUint(dst, uint64(r.Port), 10)
	if r.Message {
		dst = append(dst, " message"...)
	}
	if r.Acks {
		dst = append(dst, " acks"...)
	}
	if r.Accept && r.From != 0 {
		dst = append(dst, " from="...)
		dst = append(dst, r.From.String()...)
	}
	if r.Timeout > 0 {
		dst = append(dst, " timeout="...)
		dst = append(dst, r.Timeout.String()...)
	}
	return dst
}

// ParseRequest parses a request; its errors name the word at fault.
func ParseRequest(b []byte) (Request, error) {
	var r Request
	if len(b) > MaxRequest {
		return r, fmt.Errorf("request of %d bytes: at most %d", len(b), MaxRequest)
	}
	w := strings.Fields(string(b))
	switch {
	case len(w) >= 3 && w[0] == "open":
		d, to, err := ParseTarget(w[1])
		if err != nil {
			return r, fmt.Errorf("open: %w", err)
		}
		r.Dir, r.To, w = d, to, w[2:]
	case len(w) >= 2 && w[0] == "accept":
		r.Accept, w = true, w[1:]
	default:
		return r, fmt.Errorf("want 'open DIR PORT [message] [acks] [timeout=DUR]' or 'accept PORT [message] [acks] [from=DIR] [timeout=DUR]', not %q", b)
	}
	p, err := parsePort(w[0])
	if err != nil {
		return r, err
	}
	r.Port = p
	seen := map[string]bool{}
	for _, o := range w[1:] {
		key, val, hasVal := strings.Cut(o, "=")
		if seen[key] {
			return r, fmt.Errorf("option %q given twice", key)
		}
		seen[key] = true
		switch {
		case o == "message":
			r.Message = true
		case o == "acks":
			r.Acks = true
		case key == "from" && hasVal && r.Accept:
			d, err := packet.ParseDir(val)
			if err != nil || !d.IsLink() {
				return r, fmt.Errorf("from=%q is not a link: want one of NE ET SE SW WT NW", val)
			}
			r.From = d
		case key == "timeout" && hasVal:
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return r, fmt.Errorf("timeout=%q: want a positive duration such as 500ms or 10s", val)
			}
			if !r.Accept && d > MaxOpenTimeout {
				return r, fmt.Errorf("timeout=%v: an open waits at most %v", d, MaxOpenTimeout)
			}
			r.Timeout = d
		default:
			return r, fmt.Errorf("unknown option %q", o)
		}
	}
	return r, nil
}

// maxTileName bounds a tile's name in an open: a route of 32 links
// (services/tubes.MaxHops, which this package cannot import), 3 bytes each.
const maxTileName = 32 * 3

// ParseTarget reads what an open is to: a link (d) or a tile (to, as
// CheckTileName takes it).
func ParseTarget(s string) (d packet.Dir, to string, err error) {
	if d, err := packet.ParseDir(s); err == nil && d.IsLink() {
		return d, "", nil
	}
	if err := CheckTileName(s); err != nil {
		return 0, "", err
	}
	return 0, s, nil
}

// CheckTileName accepts what may name a tile for an open (DialTile): 4 to 16 hex
// digits, or link directions separated by commas. Whether a tile answers
// to it, only the daemon's routes know.
func CheckTileName(s string) error {
	bad := fmt.Errorf("%q is not a link (NE ET SE SW WT NW), a tile identity (4 to 16 hex digits) or a route such as ET,ET,SE", s)
	if len(s) > maxTileName {
		return bad
	}
	if strings.Contains(s, ",") {
		for _, f := range strings.Split(s, ",") {
			if d, err := packet.ParseDir(f); err != nil || !d.IsLink() {
				return bad
			}
		}
		return nil
	}
	if len(s) < 4 || len(s) > 16 {
		return bad
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return bad
		}
	}
	return nil
}

func parsePort(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 || strconv.FormatUint(p, 10) != s {
		return 0, fmt.Errorf("port %q: want 1..65535", s)
	}
	return uint16(p), nil
}

// ByRoutes is the DIR of a Reply's text for a tube to a tile by routes,
// which no one link carries (Reply.Dir packet.NT).
const ByRoutes = "-"

// Reply is the daemon's answer to a Request that it accepted.
type Reply struct {
	ID         uint64
	Dir        packet.Dir
	Tile       string
	LocalPort  uint16
	RemotePort uint16
	Message    bool
	Window     int
}

// AppendText appends "ok ID DIR TILE LOCALPORT REMOTEPORT KIND WINDOW".
func (r Reply) AppendText(dst []byte) []byte {
	kind := "stream"
	if r.Message {
		kind = "message"
	}
	dir := r.Dir.String()
	if r.Dir == packet.NT {
		dir = ByRoutes
	}
	return fmt.Appendf(dst, "ok %d %s %s %d %d %s %d", r.ID, dir, r.Tile, r.LocalPort, r.RemotePort, kind, r.Window)
}

// ParseReply parses the daemon's reply; "error TEXT" comes back as an
// *Error wrapping ErrRefused, with op naming the request.
func ParseReply(op string, b []byte) (Reply, error) {
	var r Reply
	if len(b) > MaxRequest {
		return r, fmt.Errorf("%w: reply of %d bytes", ErrProtocol, len(b))
	}
	if text, ok := bytes.CutPrefix(b, []byte("error ")); ok {
		return r, &Error{Op: op, Reason: string(text), Err: ErrRefused}
	}
	w := strings.Fields(string(b))
	if len(w) != 8 || w[0] != "ok" {
		return r, fmt.Errorf("%w: reply %q", ErrProtocol, b)
	}
	id, err1 := strconv.ParseUint(w[1], 10, 64)
	d, err2 := packet.ParseDir(w[2])
	if w[2] == ByRoutes {
		d, err2 = packet.NT, nil
	}
	lp, err3 := parsePort(w[4])
	rp, err4 := parsePort(w[5])
	win, err5 := strconv.Atoi(w[7])
	switch {
	case err1 != nil || strconv.FormatUint(id, 10) != w[1]:
		return r, fmt.Errorf("%w: reply %q: bad id", ErrProtocol, b)
	case err2 != nil || w[2] != "-" && (!d.IsLink() || d.String() != w[2]):
		return r, fmt.Errorf("%w: reply %q: bad direction", ErrProtocol, b)
	case w[3] == "" || len(w[3]) > maxTile:
		return r, fmt.Errorf("%w: reply %q: bad tile", ErrProtocol, b)
	case err3 != nil || err4 != nil:
		return r, fmt.Errorf("%w: reply %q: bad port", ErrProtocol, b)
	case w[6] != "stream" && w[6] != "message":
		return r, fmt.Errorf("%w: reply %q: bad kind", ErrProtocol, b)
	case err5 != nil || win < 1 || win > MaxWindow || strconv.Itoa(win) != w[7]:
		return r, fmt.Errorf("%w: reply %q: window not in 1..%d", ErrProtocol, b, MaxWindow)
	}
	return Reply{ID: id, Dir: d, Tile: w[3], LocalPort: lp, RemotePort: rp, Message: w[6] == "message", Window: win}, nil
}
