package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/t2tiles/itcd/daemon"
)

func init() {
	register("status", "show neighbours, traffic, services and files of a running daemon", cmdStatus)
}

func cmdStatus(args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	usageFor(fs, "status [--json] [--run-dir DIR]", "Asks the daemon on DIR/control.sock for its state.")
	asJSON := fs.Bool("json", false, "print JSON")
	runDir := fs.String("run-dir", daemon.DefaultConfig().RunDir, "the daemon's run `dir`")
	if _, err := parseInterleaved(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	c, err := daemon.DialControl(*runDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "itcd status: %v\n", err)
		return 1
	}
	defer c.Close()
	var st daemon.Status
	if *asJSON {
		var raw json.RawMessage
		if err := c.Call("status", nil, &raw); err != nil {
			fmt.Fprintf(os.Stderr, "itcd status: %v\n", err)
			return 1
		}
		out, _ := json.MarshalIndent(raw, "", "  ")
		fmt.Println(string(out))
		return 0
	}
	if err := c.Call("status", nil, &st); err != nil {
		fmt.Fprintf(os.Stderr, "itcd status: %v\n", err)
		return 1
	}
	daemon.WriteStatus(os.Stdout, st)
	return 0
}
