package dev

import (
	"log/slog"
	"time"
)

// KernelConfig locates the itc_pkt devices of a real tile.
type KernelConfig struct {
	// Path is the service device written to, and read. Empty means
	// /dev/itc/bulk. The module routes a write on bulk or flash by the
	// header's DIR alike, through the same queue, so one suffices.
	Path string `toml:"path"`
	// FlashPath is the second service device, read only: the module puts
	// a received service packet there when byte 1 has bit 7 clear, which
	// is every packet of the 63-service draft. Empty means /dev/itc/flash.
	FlashPath string `toml:"flash_path"`
	// MFMDevices makes itcd own the tile's physics identity: SetMFZID
	// writes MFZIDPath and opens the six MFM devices of MFMDir. False
	// leaves both to an unmodified mfmt2, and MFM packets go nowhere.
	// DefaultKernelConfig sets it; the zero KernelConfig leaves MFM alone.
	MFMDevices bool `toml:"mfm_devices"`
	// MFMDir holds one MFM device per link, named by direction (ET, NE,
	// ...). Empty means /dev/itc/mfm. A link whose device is missing
	// sends its MFM packets through Path, which routes them too.
	MFMDir string `toml:"mfm_dir"`
	// MFZIDPath is the module's physics identity file. Empty means
	// /sys/class/itc_pkt/mfzid.
	MFZIDPath string `toml:"mfzid_path"`
	// StatusPath is the link status file. Empty means
	// /sys/class/itc_pkt/status.
	StatusPath string `toml:"status_path"`
	// PollInterval caps the read-poll backoff: the devices have no poll(),
	// so an idle reader retries from 200µs, doubling, up to this, and
	// then on the wall-clock grid of it; a packet read or written other
	// than a hello starts it from 200µs again. It is the most a packet
	// that arrives after a quiet spell waits unread; replies to what the
	// tile sent, and packets under load, are read sooner. Zero means
	// 50ms: an idle tile with six neighbours wakes 20 times a second to
	// poll its devices (it was 20ms, and every hello in or out restarted
	// the backoff). A divisor of the hello interval (250ms) lets the two
	// share wakeups.
	PollInterval time.Duration `toml:"poll_interval"`
	// StatusInterval is how often StatusPath is read. Zero means 250ms.
	StatusInterval time.Duration `toml:"status_interval"`
	// Open, when set, holds bulk and flash already open, non-blocking,
	// in that order: stand-ins with itc_pkt's packet semantics (socket
	// pairs) for benchmarks of a whole tile. Path and FlashPath then only
	// name them. Once OpenKernel succeeds the device owns them and Close
	// closes them; if it fails the caller still does.
	Open []int `toml:"-"`
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger `toml:"-"`
}

// Defaults of KernelConfig.
const (
	DefaultKernelPath       = "/dev/itc/bulk"
	DefaultKernelFlashPath  = "/dev/itc/flash"
	DefaultKernelMFMDir     = "/dev/itc/mfm"
	DefaultKernelMFZIDPath  = "/sys/class/itc_pkt/mfzid"
	DefaultKernelStatusPath = "/sys/class/itc_pkt/status"
)

const minReadBackoff = 200 * time.Microsecond

// DefaultKernelConfig returns the configuration of a real tile.
func DefaultKernelConfig() KernelConfig {
	return KernelConfig{
		Path:           DefaultKernelPath,
		FlashPath:      DefaultKernelFlashPath,
		MFMDevices:     true,
		MFMDir:         DefaultKernelMFMDir,
		MFZIDPath:      DefaultKernelMFZIDPath,
		StatusPath:     DefaultKernelStatusPath,
		PollInterval:   50 * time.Millisecond,
		StatusInterval: 250 * time.Millisecond,
	}
}

func (c KernelConfig) withDefaults() KernelConfig {
	d := DefaultKernelConfig()
	orDefault(&c.Path, d.Path)
	orDefault(&c.FlashPath, d.FlashPath)
	orDefault(&c.MFMDir, d.MFMDir)
	orDefault(&c.MFZIDPath, d.MFZIDPath)
	orDefault(&c.StatusPath, d.StatusPath)
	if c.PollInterval <= 0 {
		c.PollInterval = d.PollInterval
	}
	if c.PollInterval < minReadBackoff {
		c.PollInterval = minReadBackoff
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = d.StatusInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func orDefault(v *string, def string) {
	if *v == "" {
		*v = def
	}
}
