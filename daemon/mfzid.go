package daemon

// The tile's physics identity (mfzid): the config default given to the
// device at start, and the one mfmt2 gives as a message on mfm.sock
// (notes/protocol.md, mfm.sock). The device's handshake compares it with
// each neighbour's; MFM packets flow only between tiles that agree.

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/t2tiles/itcd/itc/dev"
)

// MFZIDTag starts the mfm.sock message that gives the physics identity:
// "MFZID " then 0..dev.MaxMFZID bytes of identity. Its byte 0 'M' (0x4D)
// has the standard-packet bit clear, so it is never an MFM packet.
const MFZIDTag = "MFZID "

// MaxMFZIDMessage bounds the message: the tag and the longest identity.
const MaxMFZIDMessage = len(MFZIDTag) + dev.MaxMFZID

// Errors about a physics identity; callers decide with errors.Is.
var (
	// ErrNotMFZIDMessage: the message does not start with "MFZID" and so
	// is no identity message (it may be an MFM packet).
	ErrNotMFZIDMessage = errors.New("not an MFZID message")
	// ErrMFZIDMessage: it starts with "MFZID" but is malformed or too long.
	ErrMFZIDMessage = errors.New("malformed MFZID message")
	// ErrNoPhysicsIdentity: the device carries MFM packets on every link
	// that is up and takes no physics identity.
	ErrNoPhysicsIdentity = errors.New("the device takes no physics identity: MFM packets flow on every link that is up")
)

// AppendMFZIDMessage appends the mfm.sock message that gives identity id.
// It encodes whatever id holds, so a test can send a bad one.
func AppendMFZIDMessage(dst, id []byte) []byte {
	return append(append(dst, MFZIDTag...), id...)
}

// ParseMFZIDMessage reads an identity message. A message that does not
// start with "MFZID" is ErrNotMFZIDMessage; one that does but is not
// "MFZID " and a valid identity is ErrMFZIDMessage with the reason. The
// identity aliases b.
func ParseMFZIDMessage(b []byte) ([]byte, error) {
	tag := MFZIDTag[:len(MFZIDTag)-1]
	if !bytes.HasPrefix(b, []byte(tag)) {
		return nil, ErrNotMFZIDMessage
	}
	if len(b) == len(tag) || b[len(tag)] != ' ' {
		return nil, fmt.Errorf("%w: want %q then the identity (%d bytes at most)", ErrMFZIDMessage, MFZIDTag, dev.MaxMFZID)
	}
	id := b[len(MFZIDTag):]
	if err := CheckMFZID(id); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMFZIDMessage, err)
	}
	return id, nil
}

// CheckMFZID checks a physics identity: at most dev.MaxMFZID bytes (what
// the itc_pkt module takes) of printable ASCII without spaces. The module
// reads mfzid back as "PID TOKEN ID", split at spaces, and mfmt2's own
// identities ("<tag>[<digest>]") are printable ASCII, so nothing else is
// needed and a control byte or newline is a client's mistake.
func CheckMFZID(id []byte) error {
	if len(id) > dev.MaxMFZID {
		return fmt.Errorf("physics identity is %d bytes: at most %d, as the itc_pkt module takes", len(id), dev.MaxMFZID)
	}
	for i, c := range id {
		if c <= ' ' || c > '~' {
			return fmt.Errorf("physics identity byte %d is 0x%02x: want printable ASCII without spaces (0x21..0x7e)", i, c)
		}
	}
	return nil
}

// mfzDigest is a short digest of a physics identity, carried in hellos so
// a neighbour can tell a change the kernel's status hides (notes/protocol.md,
// liveness). ok is false when the sender does not know what its device
// holds.
type mfzDigest struct {
	b  [4]byte
	ok bool
}

func digestOf(id []byte) mfzDigest {
	sum := sha256.Sum256(id)
	var d mfzDigest
	copy(d.b[:], sum[:])
	d.ok = true
	return d
}

// differs reports whether two known digests disagree; an unknown one
// disagrees with nothing, so the device's status alone decides.
func (d mfzDigest) differs(o mfzDigest) bool { return d.ok && o.ok && d.b != o.b }

// physics is the tile's physics identity as the daemon last gave it.
type physics struct {
	mu     sync.Mutex
	id     string
	from   string    // "config" or "mfm.sock"
	digest mfzDigest // ok once the device holds id
	err    string    // why the device does not hold it, "" if it does
}

// setMFZID gives the device identity id, which from names the giver. If
// the device refuses, the identity is still recorded with the reason, and
// hellos carry no digest: what the device holds is then unknown. answer,
// if not nil, is called with the outcome while no event can be published
// (under the neighbours' lock), so a reply it queues comes before every
// TEP the change causes.
func (d *Daemon) setMFZID(id []byte, from string, answer func(error)) error {
	d.nbr.mu.Lock()
	err := d.setMFZIDLocked(id, from)
	if answer != nil {
		answer(err)
	}
	d.nbr.mu.Unlock()
	// The device handshakes again; look at the links and say the new
	// digest now rather than at the next tick.
	d.nbr.poke()
	d.sayHello()
	return err
}

func (d *Daemon) setMFZIDLocked(id []byte, from string) error {
	p := &d.phys
	p.mu.Lock()
	held := p.digest.ok && p.id == string(id)
	if held {
		p.from = from
	}
	p.mu.Unlock()
	if held {
		// The device holds it already (a restarted mfmt2 says it again):
		// writing it would restart every handshake and make the MFM
		// devices stale for nothing.
		return nil
	}
	pi, ok := d.dev.(dev.PhysicsIdentity)
	var err error
	if !ok {
		err = fmt.Errorf("%s device: %w", d.devName, ErrNoPhysicsIdentity)
	} else if err = pi.SetMFZID(id); err != nil {
		err = fmt.Errorf("set physics identity %q: %w", id, err)
	}
	p.mu.Lock()
	p.id, p.from, p.err, p.digest = string(id), from, "", mfzDigest{}
	if err != nil {
		p.err = err.Error()
	} else {
		p.digest = digestOf(id)
	}
	p.mu.Unlock()
	return err
}

// ownDigest is the digest hellos carry and links are judged by.
func (d *Daemon) ownDigest() mfzDigest {
	d.phys.mu.Lock()
	defer d.phys.mu.Unlock()
	return d.phys.digest
}

// changes reports whether giving id would reach the device: it differs
// from the identity last given, or the device did not take that one.
func (p *physics) changes(id []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.digest.ok || p.id != string(id)
}
