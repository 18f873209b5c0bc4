package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/tile"
)

func init() {
	register("doctor", "check this tile's itc_pkt module, devices, links and mfzid", cmdDoctor)
}

// cmdDoctor looks at the itc_pkt module the way itcd would use it and says
// what is wrong and what to do. It never writes a device or the mfzid,
// and opens each device only to close it at once. Exit 0: nothing stops
// itcd (warnings may be printed); 1: an error does, the module missing
// among them; 2: bad flags or config.
func cmdDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	usageFor(fs, "doctor [--json] [--config FILE] [--dev-root DIR] [--sys-root DIR]",
		"Checks the itc_pkt module: its devices, who holds them, link status, mfzid,\n"+
			"statistics and fifos, and says what itcd would do about each problem.\n"+
			"Exit 0 when nothing stops itcd (warnings are printed), 1 when something does.")
	asJSON := fs.Bool("json", false, "print JSON")
	configPath := fs.String("config", defaultConfigPath, "TOML config `file` (its [kernel] paths)")
	devRoot := fs.String("dev-root", "", "look for the devices under `dir` instead of the config's paths (/dev/itc)")
	sysRoot := fs.String("sys-root", "", "look for status, mfzid, statistics, fifos under `dir` (/sys/class/itc_pkt)")
	if pos, err := parseInterleaved(fs, args); err != nil || len(pos) > 0 {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err == nil {
			fmt.Fprintf(stderr, "itcd doctor: unexpected argument %q\n", pos[0])
		}
		return 2
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	cfg, err := tile.LoadConfig(*configPath, !explicit)
	if err != nil {
		fmt.Fprintf(stderr, "itcd doctor: %v\n", err)
		return 2
	}
	r := doctorReport{Config: *configPath, MFMDevices: cfg.Kernel.MFMDevices, Problems: []problem{}}
	if _, err := os.Stat(*configPath); err != nil {
		r.Config += " (not read: defaults)"
	}
	if cfg.Device != "kernel" {
		r.add("warn", "config says device = "+cfg.Device, "itcd does not use the itc_pkt module with this config")
	}
	examine(&r, newDoctorPaths(cfg.Kernel, *devRoot, *sysRoot))
	if *asJSON {
		out, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintln(stdout, string(out))
		return r.Exit
	}
	writeDoctor(stdout, &r)
	return r.Exit
}

// writeDoctor prints the report as one screen.
func writeDoctor(w io.Writer, r *doctorReport) {
	fmt.Fprintf(w, "config   %s (kernel.mfm_devices = %v)\n", r.Config, r.MFMDevices)
	if !r.Module.Loaded {
		fmt.Fprintf(w, "module   itc_pkt NOT LOADED: no %s/status\n", r.Module.SysDir)
		writeProblems(w, r)
		return
	}
	mod := "loaded: " + r.Module.SysDir
	if r.Module.ProcModules != "" {
		mod += " (" + r.Module.ProcModules + ")"
	}
	fmt.Fprintf(w, "module   itc_pkt %s\n\ndevices\n", mod)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tMODE\tOWNER\tOPEN\tPATH")
	for _, d := range r.Devices {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", d.Name, orDash(d.Mode), orDash(d.Owner), openText(d), d.Path)
	}
	tw.Flush()
	if r.Links != nil {
		fmt.Fprintf(w, "\nlinks (status %s)\n", r.Status)
		for _, l := range r.Links {
			fmt.Fprintf(w, "  %s  %d  %s\n", l.Dir, l.Nibble, l.State)
		}
	}
	if m := r.MFZID; m != nil {
		fmt.Fprint(w, "\nmfzid    ")
		if !m.Written() {
			fmt.Fprintln(w, "never written")
		} else {
			fmt.Fprintf(w, "%q token %d, written by %s\n", m.ID, m.Token, m.WriterProc)
		}
	}
	if len(r.Statistics) > 0 {
		fmt.Fprintln(w, "\nstatistics (packets/bytes)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  DIR\tPSAN\tSFAN\tTOAN\tMFM SENT\tMFM RCVD\tSVC SENT\tSVC RCVD")
		for _, s := range r.Statistics {
			if !s.Dir.IsLink() && s == (dev.LinkStatistics{Dir: s.Dir}) {
				continue // NT and ST have no link: shown only if they count something
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", s.Dir, s.PSAN, s.SFAN, s.TOAN,
				pb(s.MFM.PktsSent, s.MFM.BytesSent), pb(s.MFM.PktsRcvd, s.MFM.BytesRcvd),
				pb(s.Service.PktsSent, s.Service.BytesSent), pb(s.Service.PktsRcvd, s.Service.BytesRcvd))
		}
		tw.Flush()
	}
	if len(r.FIFOs) > 0 {
		fmt.Fprintln(w, "\nfifos (bytes)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tLEN\tAVAIL\tCDROPS\tTDROPS")
		for _, f := range r.FIFOs {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\n", f.Name, f.Len, f.Avail, f.CDrops, f.TDrops)
		}
		tw.Flush()
	}
	writeProblems(w, r)
}

func writeProblems(w io.Writer, r *doctorReport) {
	errs := 0
	for _, p := range r.Problems {
		if p.Level == "error" {
			errs++
		}
	}
	if len(r.Problems) == 0 {
		fmt.Fprintln(w, "\nno problems found")
		return
	}
	fmt.Fprintf(w, "\nproblems: %d errors, %d warnings (exit %d)\n", errs, len(r.Problems)-errs, r.Exit)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  %-5s %s\n        -> %s\n", p.Level, p.What, p.Do)
	}
}

func openText(d deviceReport) string {
	switch d.Open {
	case openOK:
		return "opens (nobody holds it)"
	case openBusy:
		if d.Holder != nil {
			return "busy: " + d.Holder.String()
		}
		return "busy: holder not found"
	case openWriterOnly:
		return "only for the mfzid writer (ESRCH)"
	case openMissing:
		return "MISSING"
	}
	return strings.ToUpper(d.Open) + ": " + d.Error
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// pb prints packets/bytes.
func pb(p, b int64) string { return strconv.FormatInt(p, 10) + "/" + strconv.FormatInt(b, 10) }
