package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/t2tiles/itcd/itc/packet"
)

func init() {
	register("decode", "decode ITC packets given in hex, one JSON line each", func(args []string, stdout, stderr io.Writer) int {
		return runDecode(args, os.Stdin, stdout, stderr)
	})
}

const decodeUsage = `usage: itcd decode [HEX...]

Decode T2 intertile packets and print one JSON object per packet per line.
Each HEX argument is one packet, such as c4010201020304, 0xc40102,
"c4 01 02" or c4:01:02 (a 0x prefix is allowed on the whole packet or on
each byte). With no arguments, packets are read from standard input, one a
line; blank lines and lines starting with # are skipped.

Fields: hex, kind, length and payload_len always; dir, overrun, error for
routed packets (mfm, service); service for service packets; local_type for
local packets; event and event_dir for Tile Event Packets; ascii for
non-standard packets.

A packet that is not valid hex or does not decode is reported on standard
error with its argument or line number; the rest are still decoded. The exit
status is 2 if anything was invalid, 0 otherwise.
`

// decoded is the JSON form of one packet. Pointer fields are omitted when
// they do not apply to the packet's kind.
type decoded struct {
	Hex        string          `json:"hex"`
	Kind       packet.Kind     `json:"kind"`
	Length     int             `json:"length"`
	Dir        *packet.Dir     `json:"dir,omitempty"`
	Overrun    *bool           `json:"overrun,omitempty"`
	Error      *bool           `json:"error,omitempty"`
	Service    *packet.Service `json:"service,omitempty"`
	LocalType  *string         `json:"local_type,omitempty"`
	Event      *packet.Event   `json:"event,omitempty"`
	EventDir   *packet.Dir     `json:"event_dir,omitempty"`
	ASCII      *string         `json:"ascii,omitempty"`
	PayloadLen int             `json:"payload_len"`
}

// runDecode is the decode subcommand; it returns the exit status.
func runDecode(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, decodeUsage)
			return 0
		}
		fmt.Fprint(stderr, decodeUsage)
		return 2
	}

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	bad := false
	one := func(where, text string) {
		if err := decodeOne(enc, text); err != nil {
			out.Flush() // keep stdout and stderr in order on a terminal
			fmt.Fprintf(stderr, "itcd decode: %s: %v\n", where, err)
			bad = true
		}
	}

	if fs.NArg() > 0 {
		for i, a := range fs.Args() {
			one(fmt.Sprintf("argument %d", i+1), a)
		}
	} else {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			one(fmt.Sprintf("line %d", n), line)
		}
		if err := sc.Err(); err != nil {
			out.Flush()
			fmt.Fprintf(stderr, "itcd decode: reading standard input: %v\n", err)
			bad = true
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "itcd decode: writing output: %v\n", err)
		return 1
	}
	if bad {
		return 2
	}
	return 0
}

// decodeOne parses one packet written in hex and writes its JSON line.
func decodeOne(enc *json.Encoder, text string) error {
	b, err := parseHex(text)
	if err != nil {
		return err
	}
	p, err := packet.Decode(b)
	if err != nil {
		return err
	}
	return enc.Encode(describe(b, &p))
}

// parseHex reads the bytes of one packet. Fields may be separated by
// spaces, tabs or colons; each field is an even number of hex digits with
// an optional 0x prefix.
func parseHex(s string) ([]byte, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == ':' || r == '\r'
	})
	var b []byte
	for _, f := range fields {
		g := f
		if len(g) >= 2 && g[0] == '0' && (g[1] == 'x' || g[1] == 'X') {
			g = g[2:]
		}
		if len(g)%2 != 0 {
			return nil, fmt.Errorf("bad hex %q: odd number of digits in %q", s, f)
		}
		var err error
		if b, err = hex.AppendDecode(b, []byte(g)); err != nil {
			return nil, fmt.Errorf("bad hex %q: %v", s, err)
		}
	}
	return b, nil
}

// describe builds the JSON form of p, decoded from b.
func describe(b []byte, p *packet.Packet) decoded {
	d := decoded{
		Hex:        hex.EncodeToString(b),
		Kind:       p.Kind,
		Length:     len(b),
		PayloadLen: len(p.Payload),
	}
	switch p.Kind {
	case packet.KindService:
		d.Service = &p.Service
		fallthrough
	case packet.KindMFM:
		d.Dir, d.Overrun, d.Error = &p.Dir, &p.Overrun, &p.Error
	case packet.KindLocal:
		lt := p.Local.String()
		d.LocalType = &lt
		if p.Local == packet.LocalTEP {
			d.Event, d.EventDir = &p.Event, &p.EventDir
		}
	case packet.KindNonStandard:
		s := string(rune(p.ASCII))
		d.ASCII = &s
	}
	return d
}
