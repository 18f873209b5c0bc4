// Command itcd is the intertile peer-to-peer service daemon for T2 tiles and
// the command-line tool that talks to it. Each subcommand lives in its own
// file and registers itself with register; main only dispatches.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand of itcd. run gets the arguments after the
// subcommand's name and where to write, and returns the process exit
// status; it never touches os.Stdout or os.Stderr itself, so tests run it
// with buffers.
type command struct {
	name    string
	summary string
	run     runFunc
}

// runFunc is the shape of every subcommand.
type runFunc func(args []string, stdout, stderr io.Writer) int

var commands = map[string]command{}

// register adds a subcommand; it is called from init functions.
func register(name, summary string, run runFunc) {
	if _, dup := commands[name]; dup {
		panic("itcd: subcommand registered twice: " + name)
	}
	commands[name] = command{name: name, summary: summary, run: run}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: itcd COMMAND [ARGS...]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'itcd COMMAND -h' for the flags of one command.")
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs the subcommand named by args[0]; it exists apart from main
// so that tests can run subcommands in-process.
func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "itcd: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}
