package control

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteStatus prints st as the one-screen summary that `itcd status` and
// SIGUSR1 show.
func WriteStatus(w io.Writer, st Status) {
	fmt.Fprintf(w, "tile %s  up %s  device %s  itcd %s  protocol v%d\n", st.Tile, fmtSeconds(st.Uptime), st.Device, st.Build, st.Version)
	fmt.Fprintf(w, "run dir %s  state dir %s  mfmt2 %s\n", st.RunDir, st.StateDir, map[bool]string{true: "connected", false: "not connected"}[st.MFMClient])
	if st.MFZIDFrom != "" {
		fmt.Fprintf(w, "mfzid %q from %s", st.MFZID, st.MFZIDFrom)
		if st.MFZIDError != "" {
			fmt.Fprintf(w, " (not set: %s)", st.MFZIDError)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DIR\tLINK\tMFM\tSTATE\tTILE\tHEARD\tRTT\tMFM in/out\tSERVICE in/out\tBYTES in/out\tDROP\tERR")
	for _, l := range st.Links {
		tile, heard, rtt := "-", "-", "-"
		if l.Tile != nil {
			tile = l.Tile.String()
		}
		if l.LastHeard != nil {
			heard = fmtSeconds(*l.LastHeard) + " ago"
		}
		if l.RTT != nil {
			rtt = fmt.Sprintf("%.0fms", *l.RTT)
		}
		var inB, outB uint64
		for _, c := range l.In {
			inB += c.Bytes
		}
		for _, c := range l.Out {
			outB += c.Bytes
		}
		mfm := "-"
		if l.MFMCompatible {
			mfm = "ok"
		} else if l.Link != "down" {
			mfm = "no"
		}
		fmt.Fprintf(tw, "%v\t%s\t%s\t%v\t%s\t%s\t%s\t%d/%d\t%d/%d\t%s/%s\t%d\t%d\n",
			l.Dir, l.Link, mfm, l.State, tile, heard, rtt,
			l.In["mfm"].Packets, l.Out["mfm"].Packets,
			l.In["service"].Packets, l.Out["service"].Packets,
			fmtBytes(inB), fmtBytes(outB),
			l.Dropped+l.Unowned+l.NotLive, l.Malformed+l.Suspect+l.Errors+l.BadHellos)
	}
	tw.Flush()
	fmt.Fprintln(w)
	var svcs []string
	for _, s := range st.Services {
		svcs = append(svcs, fmt.Sprintf("%d %s", s.Number, s.Owner))
	}
	fmt.Fprintf(w, "services: %s\n", strings.Join(svcs, ", "))
	var peers []string
	for _, l := range st.Links {
		if l.PeerBuild != "" {
			peers = append(peers, fmt.Sprintf("%v %s", l.Dir, l.PeerBuild))
		}
	}
	if len(peers) > 0 {
		fmt.Fprintf(w, "neighbours' itcd: %s\n", strings.Join(peers, ", "))
	}
	if st.Malformed > 0 || st.MFMRefuse > 0 || st.SvcRefuse > 0 {
		fmt.Fprintf(w, "malformed from device: %d  refused on mfm.sock: %d  on service.sock: %d\n", st.Malformed, st.MFMRefuse, st.SvcRefuse)
	}
	for _, l := range st.Links {
		if l.MFMIncompatible > 0 {
			fmt.Fprintf(w, "%v: %d MFM packets from mfm.sock not sent: the link is not MFM-compatible\n", l.Dir, l.MFMIncompatible)
		}
		if l.IdentityRefused > 0 {
			fmt.Fprintf(w, "%v: %d hellos claimed another identity sooner than a tile can be replaced (ignored)\n", l.Dir, l.IdentityRefused)
		}
	}
	var socks []string
	for _, s := range st.Sockets {
		e := fmt.Sprintf("%s %d", s.Name, s.Clients)
		if s.Refused > 0 || s.Evicted > 0 {
			e += fmt.Sprintf(" (%d refused, %d idle closed)", s.Refused, s.Evicted)
		}
		socks = append(socks, e)
	}
	if len(socks) > 0 {
		fmt.Fprintf(w, "local clients: %s\n", strings.Join(socks, ", "))
	}
	if st.LogSuppressed > 0 {
		fmt.Fprintf(w, "log lines suppressed by the rate limit: %d\n", st.LogSuppressed)
	}
	if k := st.KernelStats; k != nil {
		var devs []string
		for _, d := range k.Devices {
			devs = append(devs, fmt.Sprintf("%s %d/%d", d.Path, d.Read, d.Written))
		}
		fmt.Fprintf(w, "kernel devices, packets read/written: %s\n", strings.Join(devs, ", "))
		fmt.Fprintf(w, "kernel reader: %d polls  %d MFM reopens  %d mfzid rewrites\n", k.Polls, k.MFMReopens, k.MFZIDRewrites)
	}
	names := make([]string, 0, len(st.Sections))
	for n := range st.Sections {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := json.MarshalIndent(st.Sections[n], "  ", "  ")
		if err != nil {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n  %s\n", n, b)
	}
}

func fmtSeconds(s float64) string {
	switch {
	case s < 60:
		return fmt.Sprintf("%.1fs", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", int(s)/60, int(s)%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", int(s)/3600, int(s)%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", int(s)/86400, int(s)%86400/3600)
}

func fmtBytes(n uint64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%dB", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1fK", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
}
