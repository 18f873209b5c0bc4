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

// startGrid arms a monotonic timerfd to the next multiple of period on
// the wall clock, then every period. Monotonic, so a wall clock set at
// boot cannot stall it; the grid then drifts from the wall clock only as
// the clock is slewed (at most 0.05%), which changes nothing that
// matters: every subscriber of the process ticks together.
func startGrid(period time.Duration) (*Grid, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("tick: timerfd_create: %w", err)
	}
	now := time.Now()
	its := unix.ItimerSpec{
		Value:    unix.NsecToTimespec(max(int64(Next(now, period).Sub(now)), 1)),
		Interval: unix.NsecToTimespec(int64(period)),
	}
	if err := unix.TimerfdSettime(fd, 0, &its, nil); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tick: timerfd_settime: %w", err)
	}
	g := &Grid{period: period, f: os.NewFile(uintptr(fd), "tick grid"), done: make(chan struct{}), subs: map[*Sub]struct{}{}}
	if g.rc, err = g.f.SyscallConn(); err != nil {
		g.f.Close()
		return nil, fmt.Errorf("tick: %w", err)
	}
	go g.run()
	return g, nil
}

// run passes each expiry to every subscriber until the timerfd closes.
func (g *Grid) run() {
	defer close(g.done)
	read := func(fd uintptr) bool {
		// Raw: an announced call would wake sysmon, what the grid is for.
		_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&g.buf[0])), uintptr(len(g.buf)))
		return e != unix.EAGAIN && e != unix.EINTR
	}
	for {
		if err := g.rc.Read(read); err != nil {
			return
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
