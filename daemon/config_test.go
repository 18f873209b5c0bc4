package daemon

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestShippedConfigIsTheDefault(t *testing.T) {
	cfg, err := LoadConfig("../dist/itcd.toml", false)
	if err != nil {
		t.Fatal(err)
	}
	// Every setting, so a new one cannot be left out of the shipped file.
	if def := DefaultConfig(); !reflect.DeepEqual(cfg, def) {
		t.Fatalf("dist/itcd.toml drifted from DefaultConfig:\n got %+v\nwant %+v", cfg, def)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
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
			l, err := c.UDPLinks()
			return err == nil && len(l) == 1 && c.Validate() == nil
		}},
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
		{"device", func(c *Config) { c.Device = "serial" }, "want kernel or udp"},
		{"udp needs listen", func(c *Config) { c.Device = "udp" }, "udp.listen"},
		{"bad link", func(c *Config) { c.UDP.Links = map[string]string{"NT": "x:1"} }, "not a link direction"},
		{"link twice", func(c *Config) { c.UDP.Links = map[string]string{"ET": "x:1", "et": "y:1"} }, "ET is given twice"},
		{"link twice by number", func(c *Config) { c.UDP.Links = map[string]string{"ET": "x:1", "2": "y:1"} }, "ET is given twice"},
		{"zero identity hold", func(c *Config) { c.IdentityHold = 0 }, "identity_hold must be > 0"},
		{"zero client idle", func(c *Config) { c.ClientIdle = 0 }, "client_idle must be > 0"},
		{"zero log burst", func(c *Config) { c.LogBurst = 0 }, "log_burst = 0"},
		{"dead before hello", func(c *Config) { c.DeadAfter = c.HelloInterval }, "dead_after"},
		{"queue", func(c *Config) { c.ServiceQueue = 0 }, "service_queue"},
		{"mode", func(c *Config) { c.SocketMode = 0o4777 }, "socket_mode"},
		{"udp timing", func(c *Config) { c.UDP.DownAfter = c.UDP.Keepalive }, "udp.down_after"},
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
