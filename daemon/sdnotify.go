package daemon

import (
	"context"
	"net"
	"os"
	"strconv"
	"time"
)

// sdNotify sends a state line to systemd when it started us with
// Type=notify; elsewhere it does nothing. It is a few lines, so we do not
// take a library for it.
func sdNotify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(state))
}

// watchdogLoop pets systemd's watchdog at half its interval while the
// daemon's loops run; a hung daemon stops petting and systemd restarts it.
func (d *Daemon) watchdogLoop(ctx context.Context) {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return
	}
	t := time.NewTicker(time.Duration(usec) * time.Microsecond / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if d.healthy() {
				sdNotify("WATCHDOG=1")
			}
		}
	}
}

// healthy reports whether the neighbour loop has run recently: it runs
// every hello interval, so a stale beat means the daemon is stuck.
func (d *Daemon) healthy() bool {
	last := time.Unix(0, d.beat.Load())
	return time.Since(last) < d.clk.Machine(10*d.cfg.HelloInterval.D())+time.Second
}
