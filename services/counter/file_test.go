package counter

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestParseCounter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string // substring of the error; "" for success
	}{
		{"42", 42, ""},
		{"42\n", 42, ""},
		{" \t-7 \r\n", -7, ""},
		{"+5", 5, ""},
		{"0", 0, ""},
		{"9223372036854775807", 9223372036854775807, ""},
		{"-9223372036854775808", -9223372036854775808, ""},
		{"9223372036854775808", 0, "outside the 64-bit range"},
		{"", 0, "empty"},
		{" \n", 0, "empty"},
		{"abc", 0, `"abc" is not a whole number`},
		{"4 2", 0, "not a whole number"},
		{"0x10", 0, "not a whole number"},
		{"1.5", 0, "not a whole number"},
		{"1_000", 0, "not a whole number"},
	} {
		got, err := parseCounter([]byte(tc.in))
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("parseCounter(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseCounter(%q) = %d, %v; want error with %q", tc.in, got, err, tc.err)
		}
	}
}

func TestReadCounter(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	if v, err := readCounter(write("ok", "  17\n")); err != nil || v != 17 {
		t.Errorf("ok: %d, %v", v, err)
	}
	// 64 bytes is the most that is read: padded with spaces it still counts.
	if v, err := readCounter(write("padded", strings.Repeat(" ", maxFileLen-2)+"12")); err != nil || v != 12 {
		t.Errorf("64 bytes: %d, %v", v, err)
	}
	if _, err := readCounter(write("long", strings.Repeat(" ", maxFileLen-1)+"12")); err == nil || !strings.Contains(err.Error(), "longer than 64 bytes") {
		t.Errorf("65 bytes: %v", err)
	}
	if _, err := readCounter(filepath.Join(dir, "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("absent: %v, want ErrNotExist", err)
	}
	if _, err := readCounter(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	// A FIFO without a writer must not block the service.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, err := readCounter(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("fifo: %v", err)
	}
}
