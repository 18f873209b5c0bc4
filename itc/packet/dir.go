package packet

import (
	"fmt"
	"strings"
)

// Dir is a dir8 direction code, the low three bits of byte 0. On a packet
// being written it names the destination link; on a packet read it names the
// link the packet arrived on.
type Dir uint8

// The eight dir8 codes. NT and ST name no T2 link: T2 tiles sit in a
// brick-wall grid with no north or south neighbour.
const (
	NT Dir = 0 // north: no link
	NE Dir = 1
	ET Dir = 2
	SE Dir = 3
	ST Dir = 4 // south: no link
	SW Dir = 5
	WT Dir = 6
	NW Dir = 7
)

// Links lists the six directions that have a link, in dir8 order.
var Links = [6]Dir{NE, ET, SE, SW, WT, NW}

var dirNames = [8]string{"NT", "NE", "ET", "SE", "ST", "SW", "WT", "NW"}

// String returns the dir8 name, such as "ET".
func (d Dir) String() string {
	if d > 7 {
		return fmt.Sprintf("Dir(%d)", uint8(d))
	}
	return dirNames[d]
}

// IsLink reports whether d names one of the six links a T2 tile has.
func (d Dir) IsLink() bool { return d < 8 && d != NT && d != ST }

// Opposite returns the direction the far end of link d sees it from:
// ET<->WT, NE<->SW, SE<->NW.
func (d Dir) Opposite() Dir { return (d + 4) & 7 }

// ParseDir parses a dir8 name (case-insensitive) or its digit 0..7.
func ParseDir(s string) (Dir, error) {
	if len(s) == 1 && s[0] >= '0' && s[0] <= '7' {
		return Dir(s[0] - '0'), nil
	}
	// Names are two ASCII letters. Checking the length first keeps
	// strings.EqualFold's Unicode folding from accepting non-ASCII
	// spellings such as "ſe" (U+017F LATIN SMALL LETTER LONG S) for SE.
	if len(s) == 2 {
		for i, n := range dirNames {
			if strings.EqualFold(s, n) {
				return Dir(i), nil
			}
		}
	}
	return 0, fmt.Errorf("packet: unknown direction %q: want one of NE ET SE SW WT NW (or NT ST, 0..7)", s)
}

// MarshalText implements encoding.TextMarshaler so directions print by name
// in JSON and TOML.
func (d Dir) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Dir) UnmarshalText(b []byte) error {
	v, err := ParseDir(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
