package daemon

import (
	"context"
	"strings"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/ratelog"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// Status returns a snapshot of the daemon's state and counters.
func (d *Daemon) Status() control.Status {
	now := d.clk.Now()
	st := control.Status{
		Tile:      d.self,
		Version:   ProtocolVersion,
		Build:     d.build,
		Device:    d.devName,
		Uptime:    now.Sub(d.started).Seconds(),
		RunDir:    d.cfg.RunDir,
		StateDir:  d.cfg.StateDir,
		MFMRefuse: d.mfm.refused.Load(),
		SvcRefuse: d.svcRefused.Load(),
		Malformed: d.stats.malformed.Load(),
		Local:     d.stats.local.snapshot(),
	}
	if h, ok := d.log.Handler().(interface{ Suppressed() uint64 }); ok {
		st.LogSuppressed = h.Suppressed()
	}
	if u, ok := d.dev.(interface{ Stats() dev.UDPStats }); ok {
		s := u.Stats()
		st.DeviceStats = &s
	}
	if k, ok := d.dev.(interface{ Stats() dev.KernelStats }); ok {
		s := k.Stats()
		st.KernelStats = &s
	}
	d.mfm.mu.Lock()
	st.MFMClient = d.mfm.client != nil
	d.mfm.mu.Unlock()
	d.phys.mu.Lock()
	st.MFZID, st.MFZIDFrom, st.MFZIDError = d.phys.id, d.phys.from, d.phys.err
	d.phys.mu.Unlock()
	st.Sockets = d.sockets.status()
	links := d.dev.Status()
	d.nbr.mu.Lock()
	for _, dir := range packet.Links {
		n := &d.nbr.n[dir]
		ls := &d.stats.link[dir]
		l := control.LinkStatus{
			Dir: dir, Link: links[dir].String(), State: n.state,
			In: map[string]control.Count{}, Out: map[string]control.Count{},
			Dropped: ls.dropped.Load(), Unowned: ls.unowned.Load(), NotLive: ls.notLive.Load(), Malformed: ls.malformed.Load(),
			Suspect: ls.suspect.Load(), Errors: ls.writeErrors.Load(), Hellos: n.hellos, BadHellos: n.badHellos, Connects: n.connects,
			IdentityRefused: n.identityRefused,
			MFMCompatible:   n.mfm, MFMIncompatible: ls.mfmIncompatible.Load(),
		}
		if !n.since.IsZero() {
			l.Since = now.Sub(n.since).Seconds()
		}
		if n.state == Live {
			t := n.tile
			l.Tile = &t
			l.Uptime = n.uptime
			l.PeerBuild = BuildLabel(n.peerBuild, n.peerHasBuild)
			if n.srtt > 0 {
				ms := float64(n.srtt) / float64(time.Millisecond)
				l.RTT = &ms
			}
		}
		if !n.lastHeard.IsZero() {
			ago := now.Sub(n.lastHeard).Seconds()
			l.LastHeard = &ago
		}
		for c := 0; c < numClasses; c++ {
			l.In[classNames[c]] = ls.in[c].snapshot()
			l.Out[classNames[c]] = ls.out[c].snapshot()
		}
		st.Links = append(st.Links, l)
	}
	d.nbr.mu.Unlock()
	for s := packet.ServiceLiveness; s <= packet.MaxService; s++ {
		o := d.owners[s].Load()
		if o == nil {
			continue
		}
		so := control.ServiceOwner{Number: s, Owner: o.name}
		switch {
		case o.svc != nil:
			so.Owner = "itcd " + o.name
			so.Dropped = o.svc.dropped.Load()
		case o.client != nil:
			so.Dropped = o.client.dropped.Load()
		}
		st.Services = append(st.Services, so)
	}
	for _, h := range d.inproc {
		if r, ok := h.svc.(p2p.StatusReporter); ok {
			if st.Sections == nil {
				st.Sections = map[string]any{}
			}
			st.Sections[h.svc.Name()] = r.Status()
		}
	}
	return st
}

// Section returns the status section of the in-process service named
// name, as Status would report it, without building the rest: what a
// caller that polls one service's progress needs (a whole status of
// every tile of a 400-tile simulation, four times a second, was 2.5% of
// its CPU). ok is false if no such service reports a status.
func (d *Daemon) Section(name string) (v any, ok bool) {
	for _, h := range d.inproc {
		if r, is := h.svc.(p2p.StatusReporter); is && h.svc.Name() == name {
			return r.Status(), true
		}
	}
	return nil, false
}

// LogSummary logs the one-screen summary (what SIGUSR1 asks for), one
// record per line so journald keeps it readable.
func (d *Daemon) LogSummary() {
	var b strings.Builder
	control.WriteStatus(&b, d.Status())
	ctx := ratelog.Exempt(context.Background()) // asked for, not caused
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		d.log.InfoContext(ctx, line)
	}
}
