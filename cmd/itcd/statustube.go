package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/services/tubes"
)

// tubeSection takes the tube service's section out of a status, decoded.
func tubeSection(st *control.Status) (tubes.Status, bool) {
	return takeSection[tubes.Status](st, "tube")
}

// writeTubes prints one line per tube: who, what state, and how it moves.
func writeTubes(w io.Writer, s tubes.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(s.Tubes) == 0 {
		fmt.Fprintln(tw, "no tubes")
	} else {
		fmt.Fprintln(tw, "ID\tLINK\tPORTS\tKIND\tSTATE\tOUT\tIN\tDELIVERED\tIN FLIGHT\tWINDOW\tRETX\tRTT\tRATE OUT/IN\t")
		for _, t := range s.Tubes {
			ports := fmt.Sprintf("%d>%d", t.LocalPort, t.RemotePort)
			if !t.Opener {
				ports = fmt.Sprintf("%d<%d", t.LocalPort, t.RemotePort)
			}
			state := t.State
			if t.Reason != "" {
				state += ": " + t.Reason
			}
			out, in := fmt.Sprint(t.BytesOut), fmt.Sprint(t.BytesIn)
			if t.Kind == "message" {
				out += fmt.Sprintf(" (%d msgs)", t.MsgsOut)
				in += fmt.Sprintf(" (%d msgs)", t.MsgsIn)
			}
			link := fmt.Sprintf("%v %s", t.Dir, t.Tile)
			if t.Route != "" {
				via := t.Route
				if len(t.Stripes) > 0 {
					via = strings.Join(t.Stripes, " + ")
				}
				link = fmt.Sprintf("%s via %s", t.Tile, via)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.0fms\t%.0f/%.0f B/s\t\n",
				t.ID, link, ports, t.Kind, state, out, in, t.Delivered, t.InFlight, t.Window,
				t.Retransmits, t.RTTms, t.RateOut, t.RateIn)
		}
	}
	if len(s.Accepts) > 0 {
		fmt.Fprintf(tw, "accepting on ports %v\n", s.Accepts)
	}
	c := s.Counters
	fmt.Fprintf(tw, "packets out %d (data %d, acks %d), timeouts %d, lost %d, closed %d, failed %d, refused %d, unknown %d, crc errors %d, malformed %d\n",
		c.PacketsOut, c.DataOut, c.AcksOut, c.Timeouts, c.Lost, c.Closed, c.Failed, c.Refused, c.Unknown, c.CRCErrors, c.Malformed)
	if c.RoutedIn+c.Forwarded+c.FwdDropped+c.PathChanges > 0 {
		fmt.Fprintf(tw, "by routes: arrived %d, forwarded %d, forward dropped %d, path changes %d\n", c.RoutedIn, c.Forwarded, c.FwdDropped, c.PathChanges)
	}
	tw.Flush()
}
