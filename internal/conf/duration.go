// Package conf holds the value types that the configuration sections of
// the daemon and of its services share, so that a service's Config needs
// neither the daemon nor the TOML library.
package conf

import (
	"fmt"
	"time"
)

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
