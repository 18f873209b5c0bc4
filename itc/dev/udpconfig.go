package dev

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/t2tiles/itcd/itc/packet"
)

// Links maps each link direction with a neighbour to that neighbour's
// UDP host:port. In itcd.toml it is the [udp.links] table, keyed by
// direction name (ET = "10.0.0.12:7420").
type Links map[packet.Dir]string

// UnmarshalTOML reads the [udp.links] table. A key that is not a link
// direction, a direction given twice (ET and et) or an address that is
// not a string is an error: a link silently ignored is a tile cut off.
func (l *Links) UnmarshalTOML(v any) error {
	table, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("udp.links: want a table of DIR = \"HOST:PORT\", got %T", v)
	}
	names := make([]string, 0, len(table))
	for name := range table {
		names = append(names, name)
	}
	sort.Strings(names)
	m := make(Links, len(table))
	var errs []error
	for _, name := range names {
		addr, isString := table[name].(string)
		if !isString {
			errs = append(errs, fmt.Errorf("udp.links: %s = %v: want \"HOST:PORT\" in quotes", name, table[name]))
			continue
		}
		switch d, prev, err := m.add(name, addr); {
		case errors.Is(err, errLinkTwice):
			errs = append(errs, fmt.Errorf("udp.links: %v is given twice (%s and %s): give each direction once", d, prev, addr))
		case err != nil:
			errs = append(errs, fmt.Errorf("udp.links: %s = %q: %w", name, addr, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	*l = m
	return nil
}

// MarshalTOML writes the links as an inline table in direction order,
// { ET = "10.0.0.12:7420", WT = "10.0.0.10:7420" }, so a whole UDPConfig
// can be written to a file (the simulator writes each process tile's).
func (l Links) MarshalTOML() ([]byte, error) {
	b := []byte("{")
	for _, d := range packet.Links {
		addr, ok := l[d]
		if !ok {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, ' ')
		b = append(b, d.String()...)
		b = append(b, " = "...)
		b = appendTOMLString(b, addr)
	}
	return append(b, " }"...), nil
}

// appendTOMLString appends s as a TOML basic string.
func appendTOMLString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20 || r == 0x7f:
			b = fmt.Appendf(b, "\\u%04x", r)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

// ParseLinkFlag reads one DIR=HOST:PORT (the --link flag) into l.
func (l *Links) ParseLinkFlag(s string) error {
	name, addr, ok := strings.Cut(s, "=")
	if *l == nil {
		*l = make(Links)
	}
	d, prev, err := l.add(name, addr)
	switch {
	case !ok || errors.Is(err, errLinkName) || errors.Is(err, errLinkAddr):
		return fmt.Errorf("%q: want DIR=HOST:PORT with DIR one of NE ET SE SW WT NW, like ET=10.0.0.2:7420", s)
	case errors.Is(err, errLinkTwice):
		return fmt.Errorf("%q: %v is already linked to %s; give each direction once", s, d, prev)
	}
	return err
}

var (
	errLinkName  = errors.New("not a link direction (NE ET SE SW WT NW)")
	errLinkAddr  = errors.New("empty or garbled address: want HOST:PORT")
	errLinkTwice = errors.New("given twice")
)

// add links name's direction to addr; a direction already linked is
// errLinkTwice, with the address it has.
func (l Links) add(name, addr string) (d packet.Dir, prev string, err error) {
	d, err = packet.ParseDir(name)
	if err != nil || !d.IsLink() {
		return d, "", errLinkName
	}
	if addr == "" || !utf8.ValidString(addr) {
		return d, "", errLinkAddr
	}
	if prev, dup := l[d]; dup {
		return d, prev, errLinkTwice
	}
	l[d] = addr
	return d, "", nil
}

// Validate reports settings a UDP device cannot run with; zero values
// that OpenUDP replaces by defaults are valid.
func (c UDPConfig) Validate() error {
	var errs []error
	if c.Keepalive < 0 || c.DownAfter < 0 || (c.DownAfter > 0 && c.DownAfter <= c.Keepalive) {
		errs = append(errs, fmt.Errorf("udp.down_after (%v) must exceed udp.keepalive (%v) > 0", c.DownAfter, c.Keepalive))
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"udp.out_queue_bytes", c.OutQueueBytes}, {"udp.in_queue_bytes", c.InQueueBytes}} {
		if v.n < 0 || v.n > 1<<24 {
			errs = append(errs, fmt.Errorf("%s = %d: want 0..16777216 (0: the default)", v.name, v.n))
		}
	}
	for d := range c.Links {
		if !d.IsLink() {
			errs = append(errs, fmt.Errorf("udp.links: %v is not a link direction (NE ET SE SW WT NW)", d))
		}
	}
	if err := c.Profile.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("udp.shape: %w", err))
	}
	return errors.Join(errs...)
}
