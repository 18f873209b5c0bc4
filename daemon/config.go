package daemon

import (
	"errors"
	"fmt"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/conf"
)

// Config holds every setting, timeout and limit of the daemon itself in one
// place; the device and each service have a Config of their own, and package
// tile assembles them into itcd.toml.
// DefaultConfig gives the values a tile runs with; the TOML config file and
// the command line override them. Durations are written like "250ms" in TOML.
type Config struct {
	// StateDir keeps what must survive a reboot: the tile identity, the
	// signed-file store, the counter file.
	StateDir string `toml:"state_dir"`
	// RunDir holds the local sockets: mfm.sock, service.sock, control.sock.
	RunDir string `toml:"run_dir"`

	// MFZID is the physics identity the daemon gives the device at start
	// (mfzid on a tile), until mfmt2 gives its own on mfm.sock. MFM
	// packets flow only between tiles with the same one. The default ""
	// is what the itc_pkt module holds from boot: tiles that never wrote
	// mfzid compare equal, so itcd tiles are MFM-compatible with each
	// other and with tiles nobody configured, as linked tiles are today.
	MFZID string `toml:"mfzid"`

	// HelloInterval is how often the liveness service says hello on each
	// link that is up. The hellos fall on a wall-clock grid of it, so a
	// tile's six hellos leave, and its neighbours' arrive, together.
	HelloInterval conf.Duration `toml:"hello_interval"`
	// TickPhase shifts that grid. Zero on a tile: tiles whose clocks
	// agree then say hello at the same instants. A simulator running
	// hundreds of tiles on a few cores spreads them over the interval
	// instead, so they do not all wake at once.
	TickPhase time.Duration `toml:"-"`
	// DeadAfter is how long a live neighbour may stay silent before it
	// counts as gone. With hellos every 250ms, 2.5s is ten lost hellos in
	// a row: at 20% loss that happens about once in 10^7 windows.
	DeadAfter conf.Duration `toml:"dead_after"`
	// IdentityHold is how long a live neighbour keeps its link before a
	// hello with another identity may replace it. Replacing a tile takes
	// longer than a reboot; a neighbour that changes identity faster is
	// misbehaving: its hellos are ignored and counted, and each change
	// would otherwise be a connect and a disconnect for every service.
	IdentityHold conf.Duration `toml:"identity_hold"`

	// ServiceQueue bounds the packets one service may have waiting to go
	// out on one link; a full queue fails Send with ErrQueueFull.
	ServiceQueue int `toml:"service_queue"`
	// MFMQueue bounds the MFM packets waiting to go out on one link.
	MFMQueue int `toml:"mfm_queue"`
	// InboxLen bounds the packets and events waiting for one service or
	// local client; more are dropped and counted.
	InboxLen int `toml:"inbox_len"`
	// WriteRetry is how soon the writer retries a link whose device queue
	// was full. ITC devices have no poll(), so this is a poll interval.
	WriteRetry conf.Duration `toml:"write_retry"`
	// ServiceBacklog: a service packet goes to a device that can tell
	// its backlog per link (dev.Backlogger: the UDP device) only while
	// fewer bytes than this wait there, so MFM packets, hellos and a
	// service's control messages wait behind a few packets, not a whole
	// device queue (16 KB, 250 ms at 64 KB/s). 0: no bound; the device's
	// queue fills.
	ServiceBacklog int `toml:"service_backlog"`

	// SocketMode is the permission of the sockets in RunDir, and
	// SocketGroup, when set, their group.
	SocketMode  uint32 `toml:"socket_mode"`
	SocketGroup string `toml:"socket_group"`
	// MaxClients bounds the connections on each local socket, counted
	// per socket, so idle clients of one cannot lock out another; each
	// socket keeps a few more places for root and the daemon's own user.
	MaxClients int `toml:"max_clients"`
	// ClientIdle closes a control.sock client that sends no request, and
	// a service.sock client that does not bind, for this long: an idle
	// connection holds one of MaxClients.
	ClientIdle conf.Duration `toml:"client_idle"`

	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// LogBurst and LogEvery bound the log: of each kind of line (level,
	// message and link), LogBurst pass at once and then one a LogEvery;
	// the rest are counted, and the next line of the kind that passes
	// says how many. Neighbours and local programs cause most lines and
	// must not be able to fill the disk.
	LogBurst int           `toml:"log_burst"`
	LogEvery conf.Duration `toml:"log_every"`
}

// DefaultConfig returns the configuration a tile runs with.
func DefaultConfig() Config {
	return Config{
		StateDir:      "/var/lib/itcd",
		RunDir:        control.DefaultRunDir,
		HelloInterval: conf.Duration(250 * time.Millisecond),
		DeadAfter:     conf.Duration(2500 * time.Millisecond),
		IdentityHold:  conf.Duration(10 * time.Second),
		ServiceQueue:  64,
		MFMQueue:      256,
		InboxLen:      256,
		WriteRetry:    conf.Duration(time.Millisecond),
		// 2 KB is 31 ms of a 64 KB/s link: enough that the link never
		// idles while the writer waits to add more.
		ServiceBacklog: 2048,
		SocketMode:     0o660,
		MaxClients:     64,
		ClientIdle:     conf.Duration(time.Minute),
		LogLevel:       "info",
		LogBurst:       20,
		LogEvery:       conf.Duration(time.Second),
	}
}

// Validate checks that the configuration can run.
func (c *Config) Validate() error {
	var errs []error
	if c.StateDir == "" {
		errs = append(errs, errors.New("state_dir is empty"))
	}
	if c.RunDir == "" {
		errs = append(errs, errors.New("run_dir is empty"))
	}
	if err := CheckMFZID([]byte(c.MFZID)); err != nil {
		errs = append(errs, fmt.Errorf("mfzid: %w", err))
	}
	if c.HelloInterval <= 0 || c.DeadAfter <= c.HelloInterval {
		errs = append(errs, fmt.Errorf("dead_after (%v) must exceed hello_interval (%v) > 0", c.DeadAfter, c.HelloInterval))
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"service_queue", c.ServiceQueue}, {"mfm_queue", c.MFMQueue}, {"inbox_len", c.InboxLen}, {"max_clients", c.MaxClients}} {
		if v.n < 1 || v.n > 1<<16 {
			errs = append(errs, fmt.Errorf("%s = %d: want 1..65536", v.name, v.n))
		}
	}
	for _, v := range []struct {
		name string
		d    conf.Duration
	}{{"write_retry", c.WriteRetry}, {"identity_hold", c.IdentityHold}, {"client_idle", c.ClientIdle}, {"log_every", c.LogEvery}} {
		if v.d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be > 0", v.name))
		}
	}
	if c.ServiceBacklog < 0 || c.ServiceBacklog > 1<<20 {
		errs = append(errs, fmt.Errorf("service_backlog = %d: want 0..1048576 bytes (0: no bound)", c.ServiceBacklog))
	}
	if c.LogBurst < 1 || c.LogBurst > 1<<16 {
		errs = append(errs, fmt.Errorf("log_burst = %d: want 1..65536", c.LogBurst))
	}
	if c.SocketMode&^0o777 != 0 {
		errs = append(errs, fmt.Errorf("socket_mode %o: want permission bits only", c.SocketMode))
	}
	return errors.Join(errs...)
}
