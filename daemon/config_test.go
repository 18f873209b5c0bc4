package daemon

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"default", func(*Config) {}, ""},
		{"zero identity hold", func(c *Config) { c.IdentityHold = 0 }, "identity_hold must be > 0"},
		{"zero client idle", func(c *Config) { c.ClientIdle = 0 }, "client_idle must be > 0"},
		{"zero log burst", func(c *Config) { c.LogBurst = 0 }, "log_burst = 0"},
		{"dead before hello", func(c *Config) { c.DeadAfter = c.HelloInterval }, "dead_after"},
		{"queue", func(c *Config) { c.ServiceQueue = 0 }, "service_queue"},
		{"mode", func(c *Config) { c.SocketMode = 0o4777 }, "socket_mode"},
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
