package dev

import (
	"time"

	"github.com/t2tiles/itcd/internal/tick"
)

// The clock of a UDP device: one goroutine per device does everything that
// happens at a time rather than on a packet's arrival. It paces every
// link's outbound queue, releases the delay lines, sends the keepalives
// and notices links that fell silent.
//
// Its wakeups are coarse on purpose. Pacing wakes on a grid of
// paceGranularity and sends whatever falls due within half a step (the
// departure times stay exact, so the average rate does). Keepalive ticks
// fall on a wall-clock grid of the keepalive interval (internal/tick), so
// every device of a process, and of every tile whose clock agrees, ticks
// at the same instants, and one wakeup of the machine serves them all.
// The pacing grid is shifted by a phase of the device's own, so busy
// devices of one machine take turns instead of all waking together.
//
// The rejected design, one pump goroutine and timer per link direction,
// woke the machine once per packet per link: at 400 simulated tiles that
// starved it.

// paceGranularity is the grid of the pacing wakeups: a paced packet
// leaves within half of it of its time, early or late (a delayed packet
// never early), and a busy 64 KB/s link sends one or two packets per
// wakeup. The first packet on an idle link leaves at once.
const paceGranularity = 5 * time.Millisecond

// Keepalive policy (udplive.go).
const (
	// kaSilence: a link that sent no packet frame for this many
	// keepalive intervals gets a keepalive. Above one, so a hello sent a
	// little after the tick (both on the same grid) still counts.
	kaSilenceNum, kaSilenceDen = 3, 2
	// kaBurstTicks: after the far end (re)appears or this tile's identity
	// changes, a keepalive goes on this many ticks, whatever else is
	// sent, so the identity handshake survives lost keepalives (all five
	// lost: 3 in 10^4 at 20% loss).
	kaBurstTicks = 5
	// kaRefreshTicks: every this many ticks (10s at 250ms) each link gets
	// a keepalive anyway: the far end learns this tile's identity even if
	// a whole burst was lost.
	kaRefreshTicks = 40
)

// clock runs until the device closes.
func (u *UDP) clock() {
	defer u.wg.Done()
	clk := u.cfg.Clock
	timer := clk.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	kaAt := clk.Now() // the first tick at once: the neighbours learn of this end
	phase := time.Duration(u.epoch) % paceGranularity
	for {
		now := clk.Now()
		if !now.Before(kaAt) {
			u.keepaliveTick()
			u.refreshStatus()
			kaAt = tick.Next(now.Add(-u.cfg.TickPhase), u.cfg.Keepalive).Add(u.cfg.TickPhase)
		}
		u.keepalivesWanted()
		wait := int64(-1)
		// The wakeup's one reading of the clock serves every link: a
		// step takes microseconds, the pacing grid is paceGranularity.
		stepAt := u.stamp(now)
		for _, l := range u.list {
			if w := u.step(l, stepAt); w >= 0 {
				wait = minWait(wait, w) // -1 (nothing to do) must not win
			}
		}
		at := kaAt
		if wait >= 0 {
			// step counts what falls due within half a step as due now.
			due := now.Add(time.Duration(wait) - paceGranularity/2 - phase)
			if p := tick.AtOrAfter(due, paceGranularity).Add(phase); p.Before(at) {
				at = p
			}
		}
		timer.Reset(clk.Until(at))
		select {
		case <-u.done:
			return
		case <-u.kick:
		case <-timer.C:
		}
	}
}
