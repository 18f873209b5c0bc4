package main

import (
	"flag"
	"fmt"
	"strings"
)

// parseInterleaved parses flags that may come before, between or after the
// positional arguments (Go's flag stops at the first positional one). A
// "--" ends flag parsing.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// usageFor gives a FlagSet a usage line and the flag list.
func usageFor(fs *flag.FlagSet, line, about string) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: itcd %s\n\n%s\n\nflags:\n", line, about)
		fs.PrintDefaults()
	}
}
