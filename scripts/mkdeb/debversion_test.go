package main

import (
	"os/exec"
	"testing"
	"time"
)

func TestDebianVersion(t *testing.T) {
	at := time.Date(2026, 11, 30, 23, 34, 15, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		describe, want string
	}{
		{"v1.2.3", "1.2.3-1"},
		{"1.2.3", "1.2.3-1"},
		{"v1.2.3-4-gabc1234", "1.2.3+4.gabc1234-1"},
		{"v1.2.3-4-gabc1234-dirty", "1.2.3+4.gabc1234.dirty-1"},
		{"v1.2.3-dirty", "1.2.3+dirty-1"},
		{"v1.2.3-rc1", "1.2.3~rc1-1"},
		{"v1.2.3-rc1-2-gdeadbeef", "1.2.3~rc1+2.gdeadbeef-1"},
		{"204e96c", "0.0~git20261130.223415.204e96c-1"},
		{"204e96c-dirty", "0.0~git20261130.223415.204e96c.dirty-1"},
		{"release/5", "0~release.5-1"},
		{" v2.0.0\n", "2.0.0-1"},
	}
	for _, tc := range tests {
		got, err := DebianVersion(tc.describe, at)
		if err != nil || got != tc.want {
			t.Errorf("DebianVersion(%q) = %q, %v; want %q", tc.describe, got, err, tc.want)
		}
	}
	if _, err := DebianVersion("", at); err == nil {
		t.Error("DebianVersion of nothing: no error")
	}
}

func TestCheckDebianVersion(t *testing.T) {
	for _, v := range []string{"1", "1.2.3-1", "2:1.0~rc1+git.abc-0.1", "0.0~git20261130.223415.204e96c-1", "1.0-2-3"} {
		if err := CheckDebianVersion(v); err != nil {
			t.Errorf("CheckDebianVersion(%q) = %v, want nil", v, err)
		}
	}
	for _, v := range []string{"", "v1.0", "1.0-", "a:1.0", ":1.0", "1.0_1", "1.0-1_2", "-1", "1.0 1"} {
		if err := CheckDebianVersion(v); err == nil {
			t.Errorf("CheckDebianVersion(%q) = nil, want an error", v)
		}
	}
}

// dpkg orders the versions as the commits came: an untagged commit
// before the first tag, a pre-release before its release, commits after
// a tag after it and before the next, a dirty tree after its commit.
func TestDebianVersionOrder(t *testing.T) {
	dpkg := need(t, "dpkg")
	early := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	order := []struct {
		describe string
		at       time.Time
	}{
		{"204e96c", early},
		{"0be1a2f", early.Add(time.Second)},
		{"0be1a2f-dirty", early.Add(time.Second)},
		{"v0.1.0-rc1", early},
		{"v0.1.0", early},
		{"v0.1.0-1-gabc1234", early},
		{"v0.1.0-1-gabc1234-dirty", early},
		{"v0.1.0-12-g0000000", early},
		{"v0.1.1", early},
	}
	prev := ""
	for _, o := range order {
		v, err := DebianVersion(o.describe, o.at)
		if err != nil {
			t.Fatal(err)
		}
		if prev != "" {
			if out, err := exec.Command(dpkg, "--compare-versions", prev, "lt", v).CombinedOutput(); err != nil {
				t.Errorf("dpkg: %s is not before %s (%s): %v %s", prev, v, o.describe, err, out)
			}
		}
		prev = v
	}
}
