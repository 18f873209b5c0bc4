package main

// itcd version: which build this is and which wire formats it speaks, so
// a tile's owner can tell what runs where (a neighbour's version is in
// `itcd status`, from its hellos).

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/internal/buildinfo"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz"
)

func init() {
	register("version", "this build's version, Go release, target and wire protocol versions", cmdVersion)
}

// wireFormat is one format on the wire or on disk and the version of it
// this build speaks; Version 0 means the format carries none.
type wireFormat struct {
	Name    string         `json:"name"`
	Key     string         `json:"key"`               // the name as a log attribute`
	Service packet.Service `json:"service,omitempty"` // the service number it travels on, if any
	Version int            `json:"version"`
	Note    string         `json:"note,omitempty"`
}

// versionReport is what `itcd version --json` prints.
type versionReport struct {
	buildinfo.Info
	Target string       `json:"target"`
	Wire   []wireFormat `json:"wire"`
}

// wireFormats lists every versioned format of this build.
func wireFormats() []wireFormat {
	return []wireFormat{
		{Name: "liveness hello", Key: "liveness_hello", Service: packet.ServiceLiveness, Version: daemon.ProtocolVersion},
		// Framing version v is the magic byte 0x54+v-1 (notes/protocol.md).
		{Name: "UDP link frames", Key: "udp_frames", Version: int(dev.FrameMagic) - 0x54 + 1},
		{Name: "MFZ signed file", Key: "mfz_file", Version: mfz.FormatVersion,
			Note: fmt.Sprintf("reads versions %d to %d", mfz.OldestFormat, mfz.FormatVersion)},
		{Name: "signed-file distribution", Key: "mfz_dist", Service: packet.ServiceMFZ,
			Note: "no version byte: message types 1..9, an unknown type is dropped and counted"},
		{Name: "tubes", Key: "tubes", Service: packet.ServiceTube,
			Note: "no version byte: message types 1..6, an unknown type is dropped and counted"},
	}
}

// readVersion is this binary's report.
func readVersion() versionReport {
	i := buildinfo.Read()
	return versionReport{Info: i, Target: i.Target(), Wire: wireFormats()}
}

// logAttrs are the report as the first line of `itcd run` gives it.
func (r versionReport) logAttrs() []any {
	a := []any{"version", r.Version, "go", r.Go, "target", r.Target}
	for _, w := range r.Wire {
		if w.Version != 0 {
			a = append(a, w.Key, w.Version)
		}
	}
	return a
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	usageFor(fs, "version [--json]", "Prints this build's version (git describe at build time, else the commit,\n"+
		"else devel), the Go release, the target and the wire protocol versions.")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "itcd version: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	r := readVersion()
	if *asJSON {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return 0
	}
	writeVersion(stdout, r)
	return 0
}

// writeVersion prints r for a person.
func writeVersion(w io.Writer, r versionReport) {
	fmt.Fprintf(w, "itcd %s (%s)\n", r.Version, r.Source)
	fmt.Fprintf(w, "%s %s\n", r.Go, r.Target)
	if r.Revision != "" {
		dirty := ""
		if r.Modified {
			dirty = " with uncommitted changes"
		}
		fmt.Fprintf(w, "commit %s %s%s\n", r.Revision, r.Time, dirty)
	}
	fmt.Fprintln(w, "\nwire:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range r.Wire {
		on := ""
		if f.Service != 0 {
			on = fmt.Sprintf("service %d", f.Service)
		}
		v := fmt.Sprintf("version %d", f.Version)
		switch {
		case f.Version == 0:
			v = f.Note
		case f.Note != "":
			v += " (" + f.Note + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.Name, on, v)
	}
	tw.Flush()
}
