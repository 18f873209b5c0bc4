package daemon

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/t2tiles/itcd/itc/packet"
)

// Config holds every setting, timeout and limit of the daemon in one place.
// DefaultConfig gives the values a tile runs with; the TOML config file and
// the command line override them. Durations are written like "250ms" in TOML.
type Config struct {
	// StateDir keeps what must survive a reboot: the tile identity, the
	// signed-file store, the counter file.
	StateDir string `toml:"state_dir"`
	// RunDir holds the local sockets: mfm.sock, service.sock, control.sock.
	RunDir string `toml:"run_dir"`

	// Device selects the packet device: "kernel" (the itc_pkt character
	// devices of a real tile) or "udp" (links to neighbours' UDP addresses).
	Device string       `toml:"device"`
	Kernel KernelConfig `toml:"kernel"`
	UDP    UDPConfig    `toml:"udp"`

	// HelloInterval is how often the liveness service says hello on each
	// link that is up.
	HelloInterval Duration `toml:"hello_interval"`
	// DeadAfter is how long a live neighbour may stay silent before it
	// counts as gone. With hellos every 250ms, 2.5s is ten lost hellos in
	// a row: at 20% loss that happens about once in 10^7 windows.
	DeadAfter Duration `toml:"dead_after"`
	// IdentityHold is how long a live neighbour keeps its link before a
	// hello with another identity may replace it. Replacing a tile takes
	// longer than a reboot; a neighbour that changes identity faster is
	// misbehaving: its hellos are ignored and counted, and each change
	// would otherwise be a connect and a disconnect for every service.
	IdentityHold Duration `toml:"identity_hold"`

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
	WriteRetry Duration `toml:"write_retry"`

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
	ClientIdle Duration `toml:"client_idle"`

	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// LogBurst and LogEvery bound the log: of each kind of line (level,
	// message and link), LogBurst pass at once and then one a LogEvery;
	// the rest are counted, and the next line of the kind that passes
	// says how many. Neighbours and local programs cause most lines and
	// must not be able to fill the disk.
	LogBurst int      `toml:"log_burst"`
	LogEvery Duration `toml:"log_every"`

	// Counter configures the counter service (service 2).
	Counter CounterConfig `toml:"counter"`

	// MFZ configures the signed-file store and its distribution (service 8).
	MFZ MFZConfig `toml:"mfz"`
}

// KernelConfig names the itc_pkt devices of a real tile.
type KernelConfig struct {
	Path       string `toml:"path"`        // service traffic: /dev/itc/bulk
	MFMDir     string `toml:"mfm_dir"`     // per-link MFM devices: /dev/itc/mfm
	StatusPath string `toml:"status_path"` // /sys/class/itc_pkt/status
}

// UDPConfig joins tiles over UDP, on one machine or several.
type UDPConfig struct {
	Listen string `toml:"listen"`
	// Links maps a direction name (ET, NE, ...) to a neighbour's host:port.
	Links map[string]string `toml:"links"`
	// Keepalive is how often a link-level keepalive goes out on each link;
	// DownAfter how long a silent link stays up. Ten keepalives a
	// DownAfter: at 20% loss a link flaps about once in 10^7 windows.
	Keepalive Duration `toml:"keepalive"`
	DownAfter Duration `toml:"down_after"`
}

// CounterConfig configures the counter service.
type CounterConfig struct {
	Path     string   `toml:"path"`     // default STATE_DIR/counter
	Interval Duration `toml:"interval"` // re-advertise this often
}

// MFZConfig configures the signed-file store.
type MFZConfig struct {
	TrustDir string    `toml:"trust_dir"` // default STATE_DIR/mfz/trust
	Hooks    []MFZHook `toml:"hook"`
}

// MFZHook runs Command after a new version of a file whose name matches
// Pattern (a shell glob) is installed.
type MFZHook struct {
	Pattern string   `toml:"pattern"`
	Command string   `toml:"command"`
	Timeout Duration `toml:"timeout"`
}

// DefaultConfig returns the configuration a tile runs with.
func DefaultConfig() Config {
	return Config{
		StateDir: "/var/lib/itcd",
		RunDir:   "/run/itcd",
		Device:   "kernel",
		Kernel: KernelConfig{
			Path:       "/dev/itc/bulk",
			MFMDir:     "/dev/itc/mfm",
			StatusPath: "/sys/class/itc_pkt/status",
		},
		UDP:           UDPConfig{Keepalive: Duration(100 * time.Millisecond), DownAfter: Duration(time.Second)},
		HelloInterval: Duration(250 * time.Millisecond),
		DeadAfter:     Duration(2500 * time.Millisecond),
		IdentityHold:  Duration(10 * time.Second),
		ServiceQueue:  64,
		MFMQueue:      256,
		InboxLen:      256,
		WriteRetry:    Duration(time.Millisecond),
		SocketMode:    0o660,
		MaxClients:    64,
		ClientIdle:    Duration(time.Minute),
		LogLevel:      "info",
		LogBurst:      20,
		LogEvery:      Duration(time.Second),
		Counter:       CounterConfig{Interval: Duration(time.Minute)},
	}
}

// LoadConfig reads a TOML file over DefaultConfig. A missing file is not
// an error when missingOK is set: the defaults stand.
func LoadConfig(path string, missingOK bool) (Config, error) {
	cfg := DefaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		if missingOK && errors.Is(err, os.ErrNotExist) {
			return cfg, nil
		}
		return cfg, fmt.Errorf("config: %w", err)
	}
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return cfg, fmt.Errorf("config %s: unknown keys %s: check their spelling against DefaultConfig", path, strings.Join(keys, ", "))
	}
	return cfg, nil
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
	switch c.Device {
	case "kernel", "udp":
	default:
		errs = append(errs, fmt.Errorf("device %q: want kernel or udp", c.Device))
	}
	if c.Device == "udp" && c.UDP.Listen == "" {
		errs = append(errs, errors.New("device udp needs udp.listen (--udp-listen ADDR)"))
	}
	if c.UDP.Keepalive <= 0 || c.UDP.DownAfter <= c.UDP.Keepalive {
		errs = append(errs, fmt.Errorf("udp.down_after (%v) must exceed udp.keepalive (%v) > 0", c.UDP.DownAfter, c.UDP.Keepalive))
	}
	if _, err := c.UDPLinks(); err != nil {
		errs = append(errs, err)
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
		d    Duration
	}{{"write_retry", c.WriteRetry}, {"identity_hold", c.IdentityHold}, {"client_idle", c.ClientIdle}, {"log_every", c.LogEvery}} {
		if v.d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be > 0", v.name))
		}
	}
	if c.LogBurst < 1 || c.LogBurst > 1<<16 {
		errs = append(errs, fmt.Errorf("log_burst = %d: want 1..65536", c.LogBurst))
	}
	if c.SocketMode&^0o777 != 0 {
		errs = append(errs, fmt.Errorf("socket_mode %o: want permission bits only", c.SocketMode))
	}
	return errors.Join(errs...)
}

// UDPLinks returns the configured UDP links by direction.
func (c *Config) UDPLinks() (map[packet.Dir]string, error) {
	m := make(map[packet.Dir]string, len(c.UDP.Links))
	var errs []error
	for _, name := range sortedNames(c.UDP.Links) {
		d, err := packet.ParseDir(name)
		switch {
		case err != nil || !d.IsLink():
			errs = append(errs, fmt.Errorf("udp.links: %q is not a link direction (NE ET SE SW WT NW)", name))
		case hasKey(m, d):
			errs = append(errs, fmt.Errorf("udp.links: %v is given twice (as %q too): give each direction once", d, name))
		default:
			m[d] = c.UDP.Links[name]
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Duration is a time.Duration that reads and writes as "250ms" in TOML
// and JSON.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w (write it like \"250ms\" or \"3s\")", b, err)
	}
	*d = Duration(v)
	return nil
}

func hasKey[K comparable, V any](m map[K]V, k K) bool { _, ok := m[k]; return ok }
