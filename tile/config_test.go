package tile

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz/dist"
)

func TestShippedConfigIsTheDefault(t *testing.T) {
	cfg, err := LoadConfig("../dist/itcd.toml", false)
	if err != nil {
		t.Fatal(err)
	}
	if def := DefaultConfig(); !reflect.DeepEqual(cfg, def) {
		t.Fatalf("dist/itcd.toml drifted from DefaultConfig:\n got %+v\nwant %+v", cfg, def)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// Every setting is written out, so a new one cannot be left out of
	// the shipped file: read over nothing, it still gives the defaults.
	data, err := os.ReadFile("../dist/itcd.toml")
	if err != nil {
		t.Fatal(err)
	}
	var bare Config
	if _, err := toml.Decode(string(data), &bare); err != nil {
		t.Fatal(err)
	}
	if def := DefaultConfig(); !reflect.DeepEqual(bare, def) {
		t.Fatalf("dist/itcd.toml leaves settings out:\n got %+v\nwant %+v", bare, def)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, body, wantErr string
		check               func(Config) bool
	}{
		{"durations", "hello_interval = \"100ms\"\ndead_after = \"1s\"", "", func(c Config) bool {
			return c.HelloInterval.D() == 100*time.Millisecond && c.DeadAfter.D() == time.Second
		}},
		{"udp links", "device = \"udp\"\n[udp]\nlisten = \":7420\"\n[udp.links]\nET = \"10.0.0.2:7420\"", "", func(c Config) bool {
			return len(c.UDP.Links) == 1 && c.UDP.Links[packet.ET] == "10.0.0.2:7420" && c.Validate() == nil
		}},
		{"link shape", "[udp]\nseed = 7\n[udp.shape]\nrate = 8000\ndelay = \"20ms\"\nloss = 0.1\nduplicate = 0.01\ncorrupt = 0.001", "", func(c Config) bool {
			want := dev.LinkProfile{Rate: 8000, Delay: 20 * time.Millisecond, Loss: 0.1, Duplicate: 0.01, Corrupt: 0.001}
			return c.UDP.Profile == want && c.UDP.Seed == 7 && c.Validate() == nil
		}},
		{"bad link", "[udp.links]\nNT = \"x:1\"", "not a link direction", nil},
		{"link twice", "[udp.links]\nET = \"x:1\"\net = \"y:1\"", "ET is given twice", nil},
		{"link twice by number", "[udp.links]\nET = \"x:1\"\n2 = \"y:1\"", "ET is given twice", nil},
		{"link not a string", "[udp.links]\nET = 7420", "in quotes", nil},
		{"unknown key", "hello_intervall = \"1s\"", "unknown keys hello_intervall", nil},
		{"bad duration", "dead_after = \"soon\"", "duration \"soon\"", nil},
		{"not toml", "= = =", "config", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadConfig(write(tc.body), false)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(cfg) {
				t.Fatalf("cfg %+v err %v", cfg, err)
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.toml"), true); err != nil {
		t.Fatalf("missing file with missingOK: %v", err)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.toml"), false); err == nil {
		t.Fatal("missing file without missingOK: no error")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"default", func(*Config) {}, ""},
		{"daemon", func(c *Config) { c.ServiceQueue = 0 }, "service_queue"},
		{"device", func(c *Config) { c.Device = "serial" }, "want kernel or udp"},
		{"udp needs listen", func(c *Config) { c.Device = "udp"; c.UDP.Listen = "" }, "udp.listen"},
		{"bad link", func(c *Config) { c.UDP.Links = dev.Links{packet.NT: "x:1"} }, "not a link direction"},
		{"udp timing", func(c *Config) { c.UDP.DownAfter = c.UDP.Keepalive }, "udp.down_after"},
		{"link shape", func(c *Config) { c.UDP.Profile.Loss = 2 }, "udp.shape"},
		{"counter", func(c *Config) { c.Counter.Interval = 0 }, "counter.interval"},
		{"hook", func(c *Config) { c.MFZ.Hooks = append(c.MFZ.Hooks, dist.Hook{Pattern: "[", Command: "true"}) }, "mfz.hook 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// A tile on the kernel's links cannot be slowed: they run at their own
// pace. New says so before it opens any device.
func TestSlowedClockNeedsUDP(t *testing.T) {
	clk, err := clock.New(4)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.StateDir, cfg.RunDir = t.TempDir(), t.TempDir()
	if _, err := New(cfg, Options{Clock: clk}); err == nil || !strings.Contains(err.Error(), "needs the udp device") {
		t.Fatalf("New with a slowed clock on the kernel device: %v", err)
	}
}
