package tick

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Go timer is dear for an idle tile: the runtime waits for it in an
// epoll call that counts whole milliseconds, so it wakes up to a
// millisecond early and then once more, and its monitor thread (sysmon),
// which sleeps until the next timer, wakes with it and naps in 20 us
// steps while the tick's work runs. At the 250 ms ticks of an idle tile
// that was about six thread switches a tick (BENCHMARKS.md, "Idle
// cost"). A Grid is one timerfd per period for the whole process, which
// the runtime's poller waits on with no timeout: one wakeup a tick, for
// every subscriber at once, and no timer for sysmon to wake at.

// Grid delivers the multiples of its period on the wall clock (as Next
// counts them) to its subscribers. Get one with Subscribe.
type Grid struct {
	period time.Duration
	f      *os.File // the timerfd
	rc     syscall.RawConn
	buf    [8]byte // run's
	done   chan struct{}

	mu   sync.Mutex
	subs map[*Sub]struct{}
}

// Sub is one subscription to a Grid.
type Sub struct {
	// C receives at each tick; a tick the subscriber has not taken yet
	// stands for any that come meanwhile.
	C chan struct{}
	g *Grid
}

var grids = struct {
	sync.Mutex
	by map[time.Duration]*Grid
}{by: map[time.Duration]*Grid{}}

// Subscribe subscribes to the process's grid of period, starting it if it
// is not running. Stop ends the subscription; the grid's goroutine and
// timerfd end with its last one.
func Subscribe(period time.Duration) (*Sub, error) {
	if period <= 0 {
		return nil, fmt.Errorf("tick: grid period %v: want more than 0", period)
	}
	grids.Lock()
	defer grids.Unlock()
	g := grids.by[period]
	if g == nil {
		var err error
		if g, err = startGrid(period); err != nil {
			return nil, err
		}
		grids.by[period] = g
	}
	s := &Sub{C: make(chan struct{}, 1), g: g}
	g.mu.Lock()
	g.subs[s] = struct{}{}
	g.mu.Unlock()
	return s, nil
}

// Stop ends the subscription: nothing more is sent on C.
func (s *Sub) Stop() {
	g := s.g
	grids.Lock()
	defer grids.Unlock()
	g.mu.Lock()
	delete(g.subs, s)
	last := len(g.subs) == 0
	g.mu.Unlock()
	if last && grids.by[g.period] == g {
		delete(grids.by, g.period)
		g.f.Close() // ends run
		<-g.done
	}
}

// startGrid arms a timerfd on the wall clock (CLOCK_REALTIME) to the
// next multiple of period, then every period. A clock that is set (a
// tile without a battery clock, set by NTP after the daemon started)
// cancels it: run then re-arms it on the new grid, so the grid stays the
// one every other timer of the process and of the neighbours counts.
func startGrid(period time.Duration) (*Grid, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_REALTIME, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("tick: timerfd_create: %w", err)
	}
	g := &Grid{period: period, f: os.NewFile(uintptr(fd), "tick grid"), done: make(chan struct{}), subs: map[*Sub]struct{}{}}
	// A deadline works only on a descriptor the poller took: without
	// one, run would end at its first wait and nothing would tick.
	if err := g.f.SetReadDeadline(time.Time{}); err != nil {
		g.f.Close()
		return nil, fmt.Errorf("tick: timerfd not pollable: %w", err)
	}
	if g.rc, err = g.f.SyscallConn(); err != nil {
		g.f.Close()
		return nil, fmt.Errorf("tick: %w", err)
	}
	if err := g.arm(fd); err != nil {
		g.f.Close()
		return nil, err
	}
	go g.run()
	return g, nil
}

// arm sets the timer to the next multiple of period on the wall clock,
// then every period, cancelled if the clock is set.
func (g *Grid) arm(fd int) error {
	next := Next(time.Now(), g.period)
	its := unix.ItimerSpec{
		Value:    unix.NsecToTimespec(next.UnixNano()),
		Interval: unix.NsecToTimespec(int64(g.period)),
	}
	if err := unix.TimerfdSettime(fd, unix.TFD_TIMER_ABSTIME|unix.TFD_TIMER_CANCEL_ON_SET, &its, nil); err != nil {
		return fmt.Errorf("tick: timerfd_settime: %w", err)
	}
	return nil
}

// run passes each expiry to every subscriber until the timerfd closes.
// After the clock was set it re-arms the timer and ticks at once: a
// tick late is better than one lost.
func (g *Grid) run() {
	defer close(g.done)
	var set bool
	read := func(fd uintptr) bool {
		// Raw: an announced call would wake sysmon, what the grid is for.
		_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&g.buf[0])), uintptr(len(g.buf)))
		switch e {
		case unix.EAGAIN, unix.EINTR:
			return false
		case unix.ECANCELED:
			set = true
		}
		return true
	}
	for {
		if err := g.rc.Read(read); err != nil {
			return
		}
		if set {
			set = false
			// Control fails only once closed. arm cannot fail on a valid
			// time; if it did, the timer keeps its old setting, off the
			// new grid but ticking.
			_ = g.rc.Control(func(fd uintptr) { _ = g.arm(int(fd)) })
		}
		g.mu.Lock()
		for s := range g.subs {
			select {
			case s.C <- struct{}{}:
			default:
			}
		}
		g.mu.Unlock()
	}
}
