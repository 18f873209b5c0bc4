//go:build !(arm || 386 || mips || mipsle)

package itcmodel

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/t2tiles/itcd/itc/packet"
)

// Config sets up a Model.
type Config struct {
	// Dir is where the model is mounted. Empty means a new directory under
	// os.TempDir, which Close removes.
	Dir string
	// HandshakeDelay is how long a link's KITC handshake takes after the
	// link comes up or either tile writes its mfzid; MFM packets from the
	// link are dropped meanwhile. Zero completes it at once, inside the
	// event, which keeps tests deterministic. The module takes 30 ms to
	// 1.5 s (a random wait) plus about 0.6 s of exchanges.
	HandshakeDelay time.Duration
	// Seed seeds the random first token each tile's first mfzid write
	// draws, as the module does with prandom.
	Seed uint64
}

// Model is a set of model tiles joined by links, served over FUSE. Its
// methods are safe for concurrent use.
type Model struct {
	cfg    Config
	dir    string
	ownDir bool // Dir was made by New: Close removes it
	srv    *fuse.Server
	served chan struct{} // closed when srv.Serve has returned

	// mu guards everything below and the state of every Tile and link.
	mu       sync.Mutex
	tiles    map[string]*Tile
	links    []*link
	rng      *rand.Rand
	wake     chan struct{} // closed and replaced when waiters should look again
	wakeUsed bool          // someone holds wake: replace it on the next change
	waiting  int           // operations waiting in waitLocked now
	closed   bool
	tree     tree
}

// link joins one tile's link to another's. ends[0] leads the handshake.
type link struct {
	ends  [2]end
	up    bool
	gen   uint64 // bumped by every reset, so an older pending handshake does nothing
	timer *time.Timer
}

type end struct {
	t *Tile
	d packet.Dir
}

// far returns the end of l that is not (t, d).
func (l *link) far(t *Tile, d packet.Dir) end {
	if l.ends[0].t == t && l.ends[0].d == d {
		return l.ends[1]
	}
	return l.ends[0]
}

// Errors of the model's API.
var (
	// ErrUnavailable wraps every reason the model cannot be mounted here
	// (no /dev/fuse, not root, mount refused); tests skip on it.
	ErrUnavailable = errors.New("itcmodel: FUSE unavailable")
	ErrClosed      = errors.New("itcmodel: model closed")
)

// Tile adds a tile named name (letters, digits, '-' and '_', at most 32)
// with all its device nodes and sysfs files, or returns the tile of that
// name. A new tile has every link down and has never written its mfzid.
func (m *Model) Tile(name string) (*Tile, error) {
	if !validName(name) {
		return nil, fmt.Errorf("itcmodel: tile name %q: use 1..32 letters, digits, '-' or '_'", name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if t := m.tiles[name]; t != nil {
		return t, nil
	}
	t := newTile(m, name)
	m.tiles[name] = t
	m.tree.addTile(t)
	return t, nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// Link joins a's link d to b's link d.Opposite() (a's ET to b's WT, and
// so on) and brings it up: both ends see packet sync (status 1), then the
// handshake compares their mfzids (status 2 if equal). a leads the
// handshake.
func (m *Model) Link(a *Tile, d packet.Dir, b *Tile) error {
	if !d.IsLink() {
		return fmt.Errorf("itcmodel: %v is not a link direction: use NE ET SE SW WT NW", d)
	}
	if a == b || a.m != m || b.m != m {
		return fmt.Errorf("itcmodel: link %v: join two different tiles of this model", d)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	od := d.Opposite()
	if a.links[d] != nil || b.links[od] != nil {
		return fmt.Errorf("itcmodel: %s %v or %s %v is already linked", a.name, d, b.name, od)
	}
	l := &link{ends: [2]end{{a, d}, {b, od}}}
	a.links[d], b.links[od] = l, l
	m.links = append(m.links, l)
	m.setLinkLocked(l, true)
	return nil
}

// SetLink brings the link on a's side d up or down. Down is a pulled
// cable: both ends report a timeout (status 0), the handshake resets and
// packets in flight are lost. Up is packet sync again at both ends.
func (m *Model) SetLink(a *Tile, d packet.Dir, up bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if !d.IsLink() || a.links[d] == nil {
		return fmt.Errorf("itcmodel: %s has no link %v: join it with Link first", a.name, d)
	}
	m.setLinkLocked(a.links[d], up)
	return nil
}

// setLinkLocked delivers to both ends the PRU status packet the module
// would get: 'P' (packet sync) or 'T' (timeout).
func (m *Model) setLinkLocked(l *link, up bool) {
	if l.up == up {
		return
	}
	l.up = up
	code := byte('T')
	if up {
		code = 'P'
	}
	for _, e := range l.ends {
		pru, _ := PRUOf(e.d)
		e.t.receiveLocked(pru, linkStatePacket(code, e.d))
	}
}

// linkStatePacket builds the PRU's 0xC3 status packet for link d:
// 0xC3 CODE PRU PRUDIR VAL ':' with the numbers as ASCII digits.
func linkStatePacket(code byte, d packet.Dir) []byte {
	d6, _ := dir6Of(d)
	return []byte{0xC3, code, '0' + byte(d6/3), '0' + byte(d6%3), '0', ':'}
}

// changedLocked wakes everyone waiting for the model to change: a packet
// queued, space freed, a device released, the model closed.
func (m *Model) changedLocked() {
	if m.wakeUsed {
		close(m.wake)
		m.wake = make(chan struct{})
		m.wakeUsed = false
	}
}

// waitLocked releases m.mu until the model changes, cancel closes (the
// caller was interrupted: EINTR) or the deadline passes (zero: none). It
// returns with m.mu held and reports whether the caller should look again.
func (m *Model) waitLocked(cancel <-chan struct{}, deadline time.Time) (again bool, interrupted bool) {
	ch := m.wake
	m.wakeUsed = true
	m.waiting++
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.waiting--
	}()
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
		return true, false
	case <-cancel:
		return false, true
	case <-timeout:
		return false, false
	}
}
