package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/t2tiles/itcd/tube"
)

// progressEvery is how often itcd pipe redraws its progress line: at
// most 4 times a second, so a slow terminal is not a bottleneck.
const progressEvery = 250 * time.Millisecond

// progress draws, on a terminal, what a pipe moved each way, the rate
// and what the far program consumed. Its goroutine ends at stop.
type progress struct {
	c     *tube.Conn
	w     io.Writer
	start time.Time
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	// Owned by the goroutine until stop returns.
	lastSent uint64
	lastAt   time.Time
	rate     float64 // bytes a second sent, smoothed
}

func startProgress(c *tube.Conn, w io.Writer) *progress {
	p := &progress{c: c, w: w, start: time.Now(), done: make(chan struct{})}
	p.lastAt = p.start
	p.wg.Add(1)
	go p.run()
	return p
}

func (p *progress) run() {
	defer p.wg.Done()
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			fmt.Fprint(p.w, "\r\033[K")
			return
		case now := <-t.C:
			fmt.Fprintf(p.w, "\r\033[K%s", p.line(now))
		}
	}
}

// line is the progress line at now.
func (p *progress) line(now time.Time) string {
	sent, dt := p.c.BytesSent(), now.Sub(p.lastAt).Seconds()
	if dt > 0 {
		inst := float64(sent-p.lastSent) / dt
		p.rate = 0.5*p.rate + 0.5*inst
	}
	p.lastSent, p.lastAt = sent, now
	delivered := fmtSize(p.c.Delivered())
	if p.c.IsMessage() {
		delivered = fmt.Sprintf("%d of %d messages", p.c.Delivered(), p.c.Sent())
	}
	return fmt.Sprintf("%v: sent %s, %s/s, delivered %s | received %s",
		p.c.RemoteAddr(), fmtSize(sent), fmtSize(uint64(p.rate)), delivered, fmtSize(p.c.BytesReceived()))
}

// final prints the totals once the tube closed cleanly.
func (p *progress) final() {
	d := time.Since(p.start).Round(time.Millisecond)
	fmt.Fprintf(p.w, "%v: done in %v: sent %s, received %s, all delivered\n",
		p.c.RemoteAddr(), d, fmtSize(p.c.BytesSent()), fmtSize(p.c.BytesReceived()))
}

func (p *progress) stop() {
	p.once.Do(func() { close(p.done) })
	p.wg.Wait()
}

// fmtSize prints a byte count in binary units.
func fmtSize(n uint64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}
