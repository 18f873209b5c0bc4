package tile

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/services/counter"
	"github.com/t2tiles/itcd/services/mfz/dist"
	"github.com/t2tiles/itcd/services/routes"
	"github.com/t2tiles/itcd/services/tubes"
)

// Config is everything in itcd.toml: the daemon's settings at the top
// level, the packet device's and each standard service's in a section of
// its own. Each part's defaults and checks belong to its package; this
// type only puts them together.
type Config struct {
	daemon.Config

	// Device selects the packet device: "kernel" (the itc_pkt character
	// devices of a real tile) or "udp" (links to neighbours' UDP addresses).
	Device string           `toml:"device"`
	Kernel dev.KernelConfig `toml:"kernel"`
	UDP    dev.UDPConfig    `toml:"udp"`

	// Counter configures the counter service (service 2).
	Counter counter.Config `toml:"counter"`
	// MFZ configures the signed-file store and its distribution (service 8).
	MFZ dist.Config `toml:"mfz"`
	// Tube configures the tube service (service 9).
	Tube tubes.Config `toml:"tube"`
	// Route configures the routing service (service 10).
	Route routes.Config `toml:"route"`
}

// DefaultConfig returns the configuration a tile runs with.
func DefaultConfig() Config {
	return Config{
		Config:  daemon.DefaultConfig(),
		Device:  "kernel",
		Kernel:  dev.DefaultKernelConfig(),
		UDP:     udpDefaults(),
		Counter: counter.DefaultConfig(),
		MFZ:     dist.DefaultConfig(),
		Tube:    tubes.DefaultConfig(),
		Route:   routes.DefaultConfig(),
	}
}

// udpDefaults are the UDP device's defaults without a listening address:
// a tile on UDP must say where its neighbours reach it (udp.listen).
func udpDefaults() dev.UDPConfig {
	c := dev.DefaultUDPConfig()
	c.Listen = ""
	return c
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
		return cfg, fmt.Errorf("config %s: unknown keys %s: check their spelling against dist/itcd.toml", path, strings.Join(keys, ", "))
	}
	return cfg, nil
}

// Validate checks that the configuration can run: each part by its own
// rules, and the device choice.
func (c *Config) Validate() error {
	errs := []error{c.Config.Validate()}
	switch c.Device {
	case "kernel", "udp":
	default:
		errs = append(errs, fmt.Errorf("device %q: want kernel or udp", c.Device))
	}
	if c.Device == "udp" && c.UDP.Listen == "" && c.UDP.Conn == nil {
		errs = append(errs, errors.New("device udp needs udp.listen (--udp-listen ADDR)"))
	}
	errs = append(errs, c.UDP.Validate(), c.Counter.Validate(), c.MFZ.Validate(), c.Tube.Validate(), c.Route.Validate())
	return errors.Join(errs...)
}
